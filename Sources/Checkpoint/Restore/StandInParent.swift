import Glibc
import Ptrace

/// The parent a tree's root born inside its user namespace is made from
/// (the first process of a PID namespace that namespace owns, such as a
/// container's pid 1 once its runtime has left): a restore stub crtool
/// starts in its own namespaces, which stands where the root's parent
/// would. It forks the helpers that make the root (`UserNamespaceMaker
/// .bearFirst`) and its mount namespace, which must be in crtool's user
/// namespace; it then ends, and the root, its child, becomes crtool's,
/// as a root made the usual way is: crtool is a subreaper while the
/// stand-in lives.
final class StandInParent {
    let inj: RemoteSyscall
    private let gate: GatedProcess
    private let wasSubreaper = Subreaper.isSet
    private var ended = false

    /// `crtool`: a pidfd of crtool's, which the stub inherits at 3 as
    /// every process a restore makes does.
    init(stub: String, handing crtool: Int32) throws {
        if !wasSubreaper { try Subreaper.set(true) }
        var started: GatedProcess?
        do {
            let gate = try GatedProcess.spawn(pid: 0, executable: stub, arguments: [], handing: crtool)
            started = gate
            let tracee = try gate.seizeThroughExec(options: [.traceExec, .traceClone, .traceFork, .traceSysGood, .exitKill])
            inj = try RemoteSyscall(tracee: tracee, site: try SyscallSite.inVDSO(pid: gate.pid, maps: try Maps.read(pid: gate.pid)))
            let size = UInt64(AddressSpaceBuilder.scratchSize)
            inj.scratch = try inj.checked("a scratch area for the stand-in parent", Syscall.mmap, 0, size, 3, 0x22, UInt64.max, 0)
            inj.scratchSize = Int(size)
            self.gate = gate
        } catch {
            started?.abandon()
            if !wasSubreaper { try? Subreaper.set(false) }
            throw error
        }
    }

    deinit { end() }

    /// Kills and reaps the stub; its children are crtool's then.
    func end() {
        guard !ended else { return }
        ended = true
        gate.abandon()
        if !wasSubreaper { try? Subreaper.set(false) }
    }
}
