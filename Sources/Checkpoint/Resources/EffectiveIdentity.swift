import Ptrace

/// What the kernel records of whoever makes a socket connect or listen
/// (SO_PEERCRED: the process and its effective user and group) is what
/// the other side sees. A restored process has root's credentials until
/// the end of the restore, so a call whose credentials are seen is made
/// with the effective user and group switched to the ones wanted, and
/// back to root after.
enum EffectiveIdentity {
    static func run(uid: UInt32, gid: UInt32, inj: RemoteSyscall, for what: String, _ call: () throws -> Int64) throws -> Int64 {
        guard uid != 0 || gid != 0 else { return try call() }
        let keep = UInt64(UInt32.max) // -1: leave that id as it is
        try inj.checked("setresgid for \(what)", Syscall.setresgid, keep, UInt64(gid), keep)
        try inj.checked("setresuid for \(what)", Syscall.setresuid, keep, UInt64(uid), keep)
        let r = try call()
        try inj.checked("setresuid back to root after \(what)", Syscall.setresuid, keep, 0, keep)
        try inj.checked("setresgid back to root after \(what)", Syscall.setresgid, keep, 0, keep)
        return r
    }
}
