import CSupport
import Glibc

/// PR_SET_CHILD_SUBREAPER: orphans of the processes we start (a tree
/// whose root was killed by a dump) are re-parented to us instead of to
/// init, which reaps them slowly, so their PIDs are free again at once.
public enum Subreaper {
    public static func become() throws {
        if cr_syscall6(Int(Syscall.prctl), 36, 1, 0, 0, 0, 0) != 0 {
            throw SystemError("PR_SET_CHILD_SUBREAPER")
        }
    }
}
