import Glibc
import Ptrace

/// Controlling terminals. A session leader takes its terminal back with
/// TIOCSCTTY on a descriptor of it, then gives the foreground to the
/// group that had it. A tree started from a shell (--shell-job) whose
/// session leader is the shell gets crtool's terminal instead of the one it
/// was dumped on.
enum TerminalRestorer {
    static let TIOCSCTTY: UInt64 = 0x540E
    static let TIOCSPGRP: UInt64 = 0x5410

    /// The device whose descriptors become crtool's terminal, with --shell-job.
    static func shellTerminal(_ plan: RestorePlan, shellJob: Bool) -> UInt64? {
        let root = plan.root
        guard shellJob, root.controllingTerminal != 0,
              !plan.processes.contains(where: { $0.pid == root.sid }) else { return nil }
        return root.controllingTerminal
    }

    /// With --shell-job the job joins crtool's terminal; when it owned its
    /// old terminal's foreground it gets this one's, or its first read
    /// would stop it with SIGTTIN. Signals are blocked while crtool injects,
    /// so the background job may set the foreground group.
    static func takeShellForeground(_ plan: RestorePlan, tree: RestoredTree, shellTerminal: UInt64?, warnings: inout [String]) throws {
        let root = plan.root
        guard let device = shellTerminal, root.foregroundGroup == root.pgid,
              let fd = root.files.first(where: { $0.kind == .terminal && $0.device == device }) else { return }
        if let failure = try setForeground(plan.id(root.pgid, seenBy: root) ?? 0, terminal: fd, with: tree.builders[root.pid]!.inj) {
            warnings.append("the job could not take the foreground of crtool's terminal (\(failure))")
        }
    }

    /// TIOCSPGRP on the process's descriptor of its terminal, `group` as
    /// the process numbers it (0, for one it does not see, is refused);
    /// the errno name when the kernel refuses.
    private static func setForeground(_ group: Int32, terminal fd: FileDescriptorImage, with inj: RemoteSyscall) throws -> String? {
        let address = try inj.stage([UInt8].le(group), at: 0)
        let r = try inj.call(Syscall.ioctl, UInt64(fd.fd), TIOCSPGRP, address)
        return r < 0 ? ErrnoNames.name(Int32(-r)) : nil
    }

    static func restoreControllingTerminals(_ plan: RestorePlan, tree: RestoredTree, warnings: inout [String]) throws {
        for p in plan.processes where p.sid == p.pid && p.controllingTerminal != 0 {
            guard let fd = p.files.first(where: { $0.kind == .terminal && $0.device == p.controllingTerminal }) else {
                warnings.append("session leader \(p.pid) had a controlling terminal but holds no descriptor of it; it comes back without one")
                continue
            }
            let inj = tree.builders[p.pid]!.inj
            try inj.checked("TIOCSCTTY on fd \(fd.fd)", Syscall.ioctl, UInt64(fd.fd), TIOCSCTTY, 0)
            if p.foregroundGroup > 0, let failure = try setForeground(plan.id(p.foregroundGroup, seenBy: p) ?? 0, terminal: fd, with: inj) {
                warnings.append("the foreground group \(p.foregroundGroup) of \(fd.path) could not be set (\(failure))")
            }
        }
    }
}
