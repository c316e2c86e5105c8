print("crtool")
