import Glibc

/// Named moments of a dump at which crtool can be made to die, for tests
/// that check what a crtool killed there (kill -9, the OOM killer) leaves
/// behind: CRTOOL_FAULT_KILL_AT=NAME sends crtool a SIGKILL when it gets
/// there. Nothing happens without it.
enum FaultPoint {
    /// The scratch area is mapped and the leader not yet parked: it holds
    /// a home frame on its stack.
    static let scratchMapped = "scratch-mapped"
    /// The injected calls are made (a dump's questions, a pre-dump's
    /// write tracker) and the leader, still borrowed, is parked.
    static let leaderBorrowed = "leader-borrowed"
    /// The scratch area is unmapped and the leader not yet given back.
    static let scratchUnmapped = "scratch-unmapped"

    /// --freeze-cgroup: the cgroup is frozen and the tree not yet seized.
    static let cgroupFrozen = "cgroup-frozen"
    /// Every process's state is read: the tree's connections are in
    /// repair mode and their packets held; no page is read yet.
    static let stateRead = "state-read"

    private static let killAt = getenv("CRTOOL_FAULT_KILL_AT").map { String(cString: $0) }

    static func reach(_ name: String) {
        if name == killAt { kill(getpid(), SIGKILL) }
    }
}
