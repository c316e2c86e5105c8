import Glibc
import Ptrace

/// The file a path-bound unix socket made stays after its process dies.
/// Binding the path again needs it gone, but only if no socket is alive
/// behind it: a connect that is refused says the file is stale.
enum StaleSocketFile {
    static func remove(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard st.st_mode & S_IFMT == S_IFSOCK else {
            throw CheckpointError("cannot bind a unix socket to \(path) again: a file that is not a socket is there now")
        }
        for type in [SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET] {
            let probe = try Sockets.create(family: AF_UNIX, type: Int32(type.rawValue))
            let e = Sockets.connect(probe, .unixPath(path))
            close(probe)
            // EPROTOTYPE: a live socket of another type; try that type.
            if e == EPROTOTYPE { continue }
            if e == ECONNREFUSED { break }
            throw CheckpointError("cannot bind a unix socket to \(path) again: a live socket is bound there (connect: \(ErrnoNames.name(e)))")
        }
        if unlink(path) != 0 && errno != ENOENT {
            throw SystemError("removing the stale socket file \(path)")
        }
    }
}
