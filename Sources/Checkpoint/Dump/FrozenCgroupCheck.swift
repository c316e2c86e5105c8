import Glibc
import Ptrace

/// Refuses a process in a frozen cgroup (a paused container, a service
/// frozen by its manager) before it is seized. Under a version 1 freezer
/// it would never stop; under version 2 it stops, but falls back into the
/// freezer at the first injected system call and the dump would wait for
/// it forever. `--freeze-cgroup` thaws the cgroup for the moment of the
/// seize and freezes it again after, which the refusal says.
struct FrozenCgroupCheck {
    /// The cgroup mounts with a freezer: the unified hierarchy's and a v1
    /// freezer hierarchy's.
    let mounts: [MountEntry]
    /// Whether each cgroup directory looked at is frozen, itself or from
    /// above: a tree's processes mostly share a few cgroups.
    private var frozen: [CgroupFreezer: Bool] = [:]

    init() {
        mounts = ((try? MountTable.read(pid: getpid())) ?? []).filter { $0.fsType == "cgroup2" || $0.superOptions.contains("freezer") }
    }

    mutating func requireThawed(_ pid: Int32) throws {
        guard !mounts.isEmpty, let memberships = try? CgroupMembership.read(pid: pid) else { return }
        for freezer in CgroupFreezer.freezers(of: memberships, mounts: mounts) where isFrozen(freezer) {
            var frozenOne = freezer
            while (try? frozenOne.isFrozen()) != true, let above = frozenOne.parent { frozenOne = above }
            let whose = frozenOne == freezer ? "which is frozen" : "which is frozen with \(frozenOne.directory) above it"
            throw CheckpointError("pid \(pid) is in cgroup \(freezer.directory), \(whose): a frozen process cannot be dumped "
                + "(it stops for no tracer, or for a moment only). Thaw the cgroup first, or dump with --freeze-cgroup \(frozenOne.directory), "
                + "which thaws it only while crtool seizes the tree and freezes it again after; the dump let every process go as it was")
        }
    }

    private mutating func isFrozen(_ freezer: CgroupFreezer) -> Bool {
        if let known = frozen[freezer] { return known }
        let answer = (try? freezer.isHeldFrozen()) == true
        frozen[freezer] = answer
        return answer
    }
}
