import Foundation
import Glibc
import Ptrace

/// A service's standard output and error under systemd: a unix stream
/// socket connected to journald's stdout socket, whose other end journald
/// holds, outside any image. journald files each line by the header it
/// read when the stream was connected (identifier, unit, priority, ...),
/// and keeps that header in a state file per stream; the dump reads it
/// there, and the restore connects a new stream and sends it again,
/// as journald's own restart does with the streams it is handed back.
///
/// The connect is made by the process itself: journald takes the lines'
/// _PID and _UID from the connecting process (SO_PEERCRED), and crtool's
/// would name a process that is gone. Lines journald had not read at the
/// dump are still read from the old stream once the original is gone.
enum JournalStreams {
    /// journald's stdout socket (StandardOutput=journal).
    static let socketPath = "/run/systemd/journal/stdout"
    /// Where journald keeps a file per stream, named by the device and
    /// inode of its own end.
    static let stateDirectory = "/run/systemd/journal/streams"

    /// For `crtool check`: whether a stream to the journal can be
    /// restored on this host (journald's socket is there).
    /// journald reads a stream that ends before its header as nothing.
    static var hostFeature: KernelFeature {
        var problem = "cannot make a unix socket"
        if let fd = try? Sockets.create(family: AF_UNIX, type: Int32(SOCK_STREAM.rawValue)) {
            let e = Sockets.connect(fd, .unixPath(socketPath))
            close(fd)
            problem = e == 0 ? "" : ErrnoNames.name(e)
        }
        return KernelFeature(name: "journald's stdout socket (a service's output to the journal)", required: false, available: problem.isEmpty,
                             detail: problem.isEmpty ? socketPath
                                 : "\(problem) at \(socketPath): a stream to the journal cannot be restored on this host")
    }

    // MARK: dump

    /// The journal stream a socket connected to `peer` (journald's end,
    /// named `peerName`) is; nil when the peer is not journald's stdout
    /// socket.
    static func stream(peerName: SocketAddress, device: UInt64, peer: UInt64) throws -> JournalStream? {
        guard peerName == .unixPath(socketPath) else { return nil }
        let file = "\(stateDirectory)/\(device):\(peer)"
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw UnixSocketInspector.Refusal(what: "connected to the journal (\(socketPath)), but journald keeps no state for the stream in \(file); "
                + "crtool needs its header to connect the stream again")
        }
        return parse(text, socketPath: socketPath)
    }

    /// The state file: KEY=VALUE lines, the identifier and unit escaped
    /// as C strings.
    static func parse(_ text: String, socketPath: String) -> JournalStream {
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            fields[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        func flag(_ key: String, _ otherwise: Bool) -> Bool { fields[key].flatMap(Int.init).map { $0 != 0 } ?? otherwise }
        return JournalStream(socketPath: socketPath,
                             identifier: unescape(fields["IDENTIFIER"] ?? ""),
                             unit: unescape(fields["UNIT"] ?? ""),
                             priority: fields["PRIORITY"].flatMap(Int.init) ?? 6,
                             levelPrefix: flag("LEVEL_PREFIX", true),
                             forwardToSyslog: flag("FORWARD_TO_SYSLOG", false),
                             forwardToKmsg: flag("FORWARD_TO_KMSG", false),
                             forwardToConsole: flag("FORWARD_TO_CONSOLE", false))
    }

    /// Undoes C-style escapes (\n, \\, \xNN, ...), bytes taken as UTF-8.
    static func unescape(_ text: String) -> String {
        let simple: [UInt8: UInt8] = [UInt8(ascii: "a"): 7, UInt8(ascii: "b"): 8, UInt8(ascii: "f"): 12, UInt8(ascii: "n"): 10,
                                      UInt8(ascii: "r"): 13, UInt8(ascii: "t"): 9, UInt8(ascii: "v"): 11]
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            guard bytes[i] == UInt8(ascii: "\\"), i + 1 < bytes.count else {
                out.append(bytes[i])
                i += 1
                continue
            }
            let c = bytes[i + 1]
            if c == UInt8(ascii: "x"), i + 3 < bytes.count,
               let v = UInt8(String(decoding: bytes[(i + 2)...(i + 3)], as: UTF8.self), radix: 16) {
                out.append(v)
                i += 4
            } else {
                out.append(simple[c] ?? c)
                i += 2
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: restore

    /// Connects a new stream from inside the process, as the user the
    /// process runs as, and sends the header; returns the process's
    /// descriptor (close-on-exec as the image has it).
    static func connect(_ f: FileDescriptorImage, _ state: UnixSocketState, _ stream: JournalStream,
                        context: FileRestoreContext) throws -> Int64 {
        let inj = context.inj
        let what = "fd \(f.fd) of pid \(context.pid) (a stream to the journal)"
        let type = UInt64(SOCK_STREAM.rawValue) | (f.closeOnExec ? UInt64(SOCK_CLOEXEC.rawValue) : 0)
        let fd = try inj.checked("socket for \(what)", Syscall.socket, UInt64(AF_UNIX), type, 0)
        let address = [UInt8].le(UInt16(AF_UNIX)) + Array(stream.socketPath.utf8) + [0]
        let staged = try inj.stage(address)
        let effective = context.credentials.flatMap { c in c.uids.count > 1 && c.gids.count > 1 ? (c.uids[1], c.gids[1]) : nil }
        let connected = try EffectiveIdentity.run(uid: effective?.0 ?? 0, gid: effective?.1 ?? 0, inj: inj, for: "the journal's peer credentials") {
            try inj.call(Syscall.connect, fd, staged, UInt64(address.count))
        }
        if connected < 0 {
            throw CheckpointError("\(what) cannot be connected to \(stream.socketPath) again: \(ErrnoNames.name(Int32(-connected))) (is journald running?)")
        }
        let local = try PidFD(pid: context.pid).duplicate(Int32(fd))
        defer { close(local) }
        let header = Array(stream.header.utf8)
        guard header.withUnsafeBytes({ write(local, $0.baseAddress, $0.count) }) == header.count else {
            throw SystemError("sending the journal stream header of \(what)", pid: context.pid)
        }
        try UnixSocketMaker.finish(state.socket, on: local)
        if fcntl(local, F_SETFL, f.flags & O_NONBLOCK) != 0 {
            throw SystemError("setting the file flags of \(what)", pid: context.pid)
        }
        try SocketOwnership.give(local, f)
        return Int64(fd)
    }
}
