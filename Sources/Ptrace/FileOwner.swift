import Glibc

/// Who gets the signals of signal-driven I/O (O_ASYNC, and SIGURG on
/// sockets): the owner set by F_SETOWN_EX and the signal set by F_SETSIG.
/// Both belong to the open file description, so crtool reads and sets
/// them on its own copy of a descriptor.
public struct FileOwner: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable {
        case thread, process, processGroup

        /// F_OWNER_TID, F_OWNER_PID, F_OWNER_PGRP.
        var type: Int32 {
            switch self {
            case .thread: return 0
            case .process: return 1
            case .processGroup: return 2
            }
        }

        init(type: Int32) {
            self = type == 0 ? .thread : type == 2 ? .processGroup : .process
        }
    }

    public var kind: Kind
    /// 0: nobody.
    public var id: Int32
    /// 0: SIGIO.
    public var signal: Int32

    public init(kind: Kind, id: Int32, signal: Int32) {
        self.kind = kind
        self.id = id
        self.signal = signal
    }

    static let getOwner: Int32 = 16 // F_GETOWN_EX
    static let setOwner: Int32 = 15 // F_SETOWN_EX
    static let getSignal: Int32 = 11 // F_GETSIG
    static let setSignal: Int32 = 10 // F_SETSIG

    /// The owner and signal of the open file description `fd`.
    public static func read(_ fd: Int32) throws -> FileOwner {
        var raw: (Int32, Int32) = (0, 0)
        if withUnsafeMutablePointer(to: &raw, { fcntl(fd, getOwner, UnsafeMutableRawPointer($0)) }) != 0 {
            throw SystemError("F_GETOWN_EX")
        }
        let signal = fcntl(fd, getSignal)
        if signal < 0 { throw SystemError("F_GETSIG") }
        return FileOwner(kind: Kind(type: raw.0), id: raw.1, signal: signal)
    }

    /// Sets owner and signal. O_ASYNC is not set here: the file records
    /// the descriptor number it was set through, and puts it in every
    /// signal (si_fd), so the process must set it on its own descriptor.
    public func apply(to fd: Int32) throws {
        var raw: (Int32, Int32) = (kind.type, id)
        if withUnsafeMutablePointer(to: &raw, { fcntl(fd, Self.setOwner, UnsafeMutableRawPointer($0)) }) != 0 {
            throw SystemError("F_SETOWN_EX to \(kind) \(id)")
        }
        if fcntl(fd, Self.setSignal, signal) != 0 { throw SystemError("F_SETSIG \(signal)") }
    }
}
