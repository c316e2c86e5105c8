import Glibc

/// Terminal ioctls on crtool's own descriptors, with typed results.
public enum TerminalOps {
    static let TCGETS: UInt = 0x5401
    static let TCSETS: UInt = 0x5402
    static let TIOCGWINSZ: UInt = 0x5413
    static let TIOCSWINSZ: UInt = 0x5414
    static let TIOCGPTN: UInt = 0x8004_5430
    static let TIOCSPTLCK: UInt = 0x4004_5431
    static let TIOCGPTPEER: UInt = 0x5441
    static let TIOCPKT: UInt = 0x5420
    static let TIOCGPKT: UInt = 0x8004_5438
    static let FIONREAD: UInt = 0x541B
    static let TCXONC: UInt = 0x540A

    /// struct termios as the kernel keeps it (60 bytes with c_line and c_cc).
    public static func attributes(_ fd: Int32) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 60)
        let r = buffer.withUnsafeMutableBytes { ioctl(fd, TCGETS, $0.baseAddress!) }
        if r != 0 { throw SystemError("TCGETS") }
        return buffer
    }

    public static func setAttributes(_ fd: Int32, _ termios: [UInt8]) throws {
        var copy = termios
        let r = copy.withUnsafeMutableBytes { ioctl(fd, TCSETS, $0.baseAddress!) }
        if r != 0 { throw SystemError("TCSETS") }
    }

    public static func windowSize(_ fd: Int32) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 8)
        let r = buffer.withUnsafeMutableBytes { ioctl(fd, TIOCGWINSZ, $0.baseAddress!) }
        if r != 0 { throw SystemError("TIOCGWINSZ") }
        return buffer
    }

    public static func setWindowSize(_ fd: Int32, _ size: [UInt8]) throws {
        var copy = size
        let r = copy.withUnsafeMutableBytes { ioctl(fd, TIOCSWINSZ, $0.baseAddress!) }
        if r != 0 { throw SystemError("TIOCSWINSZ") }
    }

    /// The number of the pseudo-terminal a master descriptor drives.
    public static func ptyIndex(_ fd: Int32) throws -> Int32 {
        var index: Int32 = -1
        if ioctl(fd, TIOCGPTN, &index) != 0 { throw SystemError("TIOCGPTN") }
        return index
    }

    /// Opens `ptmx` until the kernel hands out pty `index` (numbers
    /// are given lowest first, so the ones below it are held meanwhile),
    /// and unlocks it. Fails if `index` is taken. `ptmx`: crtool's, or
    /// the ptmx of another devpts instance.
    public static func openPtyMaster(index: Int32, ptmx: String = "/dev/ptmx") throws -> Int32 {
        var held: [Int32] = []
        defer { held.forEach { close($0) } }
        while held.count <= Int(index) {
            let fd = open(ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC)
            if fd < 0 { throw SystemError("open \(ptmx)") }
            let got = try ptyIndex(fd)
            if got == index {
                var unlock: Int32 = 0
                if ioctl(fd, TIOCSPTLCK, &unlock) != 0 {
                    close(fd)
                    throw SystemError("TIOCSPTLCK")
                }
                return fd
            }
            held.append(fd)
            if got > index { break }
        }
        throw SystemError("opening pseudo-terminal \(index) of \(ptmx), which is in use", errno: EBUSY)
    }

    /// Opens the slave of the pair `master` drives, as the kernel finds it
    /// from the master: a path of crtool's may show another devpts, or none.
    public static func openPeer(_ master: Int32, flags: Int32 = O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC) throws -> Int32 {
        let fd = ioctl(master, TIOCGPTPEER, flags)
        if fd < 0 { throw SystemError("TIOCGPTPEER") }
        return fd
    }

    /// Whether reads of the master `fd` start with a status byte (TIOCPKT).
    public static func packetMode(_ fd: Int32) throws -> Bool {
        var on: Int32 = 0
        if ioctl(fd, TIOCGPKT, &on) != 0 { throw SystemError("TIOCGPKT") }
        return on != 0
    }

    public static func setPacketMode(_ fd: Int32, _ on: Bool) throws {
        var value: Int32 = on ? 1 : 0
        if ioctl(fd, TIOCPKT, &value) != 0 { throw SystemError("TIOCPKT") }
    }

    /// Bytes a read of `fd` could return now: in canonical mode, those of
    /// complete lines only.
    public static func readableCount(_ fd: Int32) throws -> Int {
        var count: Int32 = 0
        if ioctl(fd, FIONREAD, &count) != 0 { throw SystemError("FIONREAD") }
        return Int(count)
    }

    /// Starts (TCOON) or stops (TCOOFF) output of the terminal `fd`.
    public static func setOutputFlow(_ fd: Int32, running: Bool) throws {
        if ioctl(fd, TCXONC, running ? TCOON : TCOOFF) != 0 { throw SystemError(running ? "TCXONC TCOON" : "TCXONC TCOOFF") }
    }
}
