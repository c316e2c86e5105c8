import Glibc
import Ptrace

/// An empty directory of crtool's, made for the while a restored process
/// puts a mount namespace's root together on it in its copy of crtool's
/// namespace, and removed once the namespace has entered that root
/// (mounts a copy still has on it then go with the copy).
struct StagingDirectory {
    let path: String

    init() throws {
        do {
            path = try TemporaryDirectory.make(prefix: "crtool-root")
        } catch let e as SystemError {
            throw SystemError("making a directory to put a mount namespace's root together on (mkdtemp in /tmp)", errno: e.errno)
        }
    }

    func remove() {
        rmdir(path)
    }
}
