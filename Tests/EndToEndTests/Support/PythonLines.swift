/// Python for the test servers that answer line by line: `lines(conn)`
/// yields each line (without its newline) a stream socket receives, until
/// the peer ends its side. Put at the top of a server's program.
let pythonLines = """
    def lines(conn):
        pending = b""
        while True:
            chunk = conn.recv(4096)
            if not chunk:
                return
            pending += chunk
            while b"\\n" in pending:
                line, pending = pending.split(b"\\n", 1)
                yield line
    """

/// Python for the test servers: `listening(host, backlog)` makes a TCP
/// listener on a free port of `host`, prints "port N" and "ready" (what
/// startPython and the tests wait for), and returns it.
let pythonListener = """
    import socket
    def listening(host="127.0.0.1", backlog=128):
        listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        listener.bind((host, 0))
        listener.listen(backlog)
        print("port", listener.getsockname()[1], flush=True)
        print("ready", flush=True)
        return listener
    """
