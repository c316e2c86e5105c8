import Glibc
import Ptrace

/// A client socket for talking to the socket fixtures: connect, send,
/// and wait (bounded) for an answer, so a server that is not there fails
/// the test instead of hanging it.
final class SocketClient {
    let fd: Int32

    init(connectingTo address: SocketAddress, type: Int32 = Int32(SOCK_STREAM.rawValue)) throws {
        fd = try Sockets.create(family: address.family, type: type)
        let e = Sockets.connect(fd, address)
        if e != 0 {
            Glibc.close(fd)
            throw HarnessError("connect to \(address): \(errnoText(e))")
        }
    }

    deinit { Glibc.close(fd) }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        if case .failure(let e) = Sockets.send(fd, bytes, flags: Int32(MSG_NOSIGNAL)) {
            throw HarnessError("\(e)")
        }
    }

    /// shutdown(SHUT_WR): the peer reads end of file, and may still answer.
    func finishSending() throws {
        guard shutdown(fd, Int32(SHUT_WR)) == 0 else { throw HarnessError("shutdown: \(errnoText())") }
    }

    /// One read's worth of text, within `timeout` seconds; "" at end of file.
    func receive(timeout: Double = 10) throws -> String {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = Glibc.poll(&p, 1, Int32(timeout * 1000))
        guard ready == 1 else { throw HarnessError("no answer within \(timeout) s") }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buffer, buffer.count, 0)
        guard n >= 0 else { throw HarnessError("recv: \(errnoText())") }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }

    /// Sends `text` and returns the answer.
    func ask(_ text: String, timeout: Double = 10) throws -> String {
        try send(text)
        return try receive(timeout: timeout)
    }
}
