import Glibc

/// A pty pair whose slave end becomes a fixture's stdin while the test
/// keeps the master. Echo is off so nothing piles up on the master side
/// that nobody reads; canonical mode stays on, so the fixture reads lines.
final class PseudoTerminal {
    private(set) var master: Int32
    private(set) var slave: Int32
    let slavePath: String

    init() throws {
        master = LibC.posixOpenpt(O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard master >= 0 else { throw HarnessError("posix_openpt: \(errnoText())") }
        slave = -1
        var name = [CChar](repeating: 0, count: 128)
        guard LibC.grantpt(master) == 0, LibC.unlockpt(master) == 0,
              LibC.ptsnameR(master, &name, name.count) == 0 else {
            let reason = errnoText()
            Glibc.close(master)
            throw HarnessError("setting up the pty: \(reason)")
        }
        slavePath = String(cString: name)
        slave = open(slavePath, O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard slave >= 0 else {
            let reason = errnoText()
            Glibc.close(master)
            throw HarnessError("open \(slavePath): \(reason)")
        }
        var settings = termios()
        tcgetattr(slave, &settings)
        settings.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(slave, TCSANOW, &settings)
    }

    /// Once the fixture has its copy, the test's copy would only keep the
    /// terminal open in a process crtool is not asked to restore.
    func closeSlave() {
        if slave >= 0 { Glibc.close(slave) }
        slave = -1
    }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        let n = bytes.withUnsafeBytes { write(master, $0.baseAddress, $0.count) }
        guard n == bytes.count else { throw HarnessError("writing to the pty master: \(errnoText())") }
    }

    func close() {
        closeSlave()
        if master >= 0 { Glibc.close(master) }
        master = -1
    }

    deinit { close() }
}
