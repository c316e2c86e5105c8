/// Process-wide prctl settings programs make for themselves, which a
/// restored process must have again (see Restore/ControlsRestorer.swift).
public struct ProcessControls: Codable, Equatable, Sendable {
    /// PR_SET_CHILD_SUBREAPER: orphaned descendants come to this process
    /// (supervisors such as tini and dumb-init rely on it).
    public var childSubreaper: Bool
    /// PR_GET_DUMPABLE: 0 keeps others (and core dumps) out, as
    /// ssh-agent and other holders of secrets ask; 2 is the kernel's
    /// suid_dumpable setting, which no process can ask for.
    public var dumpable: Int32
    /// PR_SET_THP_DISABLE: no transparent huge pages for this process.
    public var hugePagesDisabled: Bool
    /// /proc/PID/coredump_filter: which mappings a core dump holds
    /// (absent in older images).
    public var coredumpFilter: UInt32?
    /// membarrier(2) private expedited commands the process registered
    /// for (MEMBARRIER_CMD_PRIVATE_EXPEDITED and its SYNC_CORE and RSEQ
    /// variants, as command numbers): userspace RCU and some runtimes
    /// register once and fail with EPERM ever after without it. Absent:
    /// none.
    public var membarriers: [Int32]?
    /// PR_SET_MEMORY_MERGE: every mapping of the process is offered to KSM
    /// (absent: no).
    public var mergeAllMemory: Bool?

    public init(childSubreaper: Bool, dumpable: Int32, hugePagesDisabled: Bool) {
        self.childSubreaper = childSubreaper
        self.dumpable = dumpable
        self.hugePagesDisabled = hugePagesDisabled
    }
}
