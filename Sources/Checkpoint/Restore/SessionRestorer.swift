import Glibc
import Ptrace

/// Sessions and process groups. A session can only be entered by
/// creating it (setsid) or by being forked inside it, so leaders call
/// setsid as soon as they exist, before their children are forked; groups
/// are joined once every process exists, leaders first.
enum SessionRestorer {
    static func enterSession(_ p: ProcessImage, plan: RestorePlan, inj: RemoteSyscall, warnings: inout [String]) throws {
        if p.sid == p.pid {
            try inj.checked("setsid", Syscall.setsid)
            return
        }
        guard p.pid == plan.root.pid else { return } // children inherit their parent's session
        if p.sid != getsid(0) && !plan.processes.contains(where: { $0.pid == p.sid }) {
            warnings.append("session \(p.sid) of pid \(p.pid) has its leader outside the image; the process joins crtool's session \(getsid(0))")
        }
    }

    /// Groups are named as each process numbers them.
    static func restoreGroups(_ plan: RestorePlan, tree: RestoredTree, warnings: inout [String]) throws {
        let leadersFirst = plan.processes.sorted { ($0.pgid == $0.pid ? 0 : 1) < ($1.pgid == $1.pid ? 0 : 1) }
        for p in leadersFirst {
            let inj = tree.builders[p.pid]!.inj
            let current = try inj.call(Syscall.getpgid, 0)
            // A group its PID namespace does not see (the one the first
            // process of a namespace was started in) is the one it was
            // born in: it stays there.
            guard let group = plan.id(p.pgid, seenBy: p) else { continue }
            if current == Int64(group) { continue }
            let r = try inj.call(Syscall.setpgid, 0, UInt64(group))
            if r < 0 {
                warnings.append("pid \(p.pid) could not join process group \(p.pgid) (\(ErrnoNames.name(Int32(-r)))); it stays in group \(current)")
            }
        }
    }
}
