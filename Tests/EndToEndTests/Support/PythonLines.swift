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
