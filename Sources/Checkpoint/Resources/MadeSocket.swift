import Glibc
import Ptrace

/// The end every socket kind's restore shares: a socket crtool just made
/// is set up (options, bind, connect), given the image's O_NONBLOCK, and
/// handed over to be planted; if anything fails it is closed, not leaked.
enum MadeSocket {
    static func finish(_ fd: Int32, flags: Int32, what: String, _ setUp: () throws -> Void) throws -> OpenedFile {
        do {
            try setUp()
            if fcntl(fd, F_SETFL, flags & O_NONBLOCK) != 0 { throw SystemError("setting the file flags of \(what)") }
            return .local(fd)
        } catch {
            close(fd)
            throw error
        }
    }
}
