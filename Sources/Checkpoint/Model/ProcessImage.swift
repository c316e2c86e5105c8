import Foundation
import Ptrace

/// Everything crtool saves about one process except its page data:
/// process-PID.json in the image. Field names are the ones a person
/// reading the file should see.
public struct ProcessImage: Codable, Equatable, Sendable {
    public var pid: Int32
    public var ppid: Int32
    public var pgid: Int32
    public var sid: Int32
    public var command: String
    public var executable: String
    public var cwd: String
    public var root: String
    public var umask: UInt32
    public var personality: UInt32
    public var credentials: Credentials
    public var limits: [ResourceLimit]
    public var memoryLayout: MemoryLayoutImage
    public var vmas: [VMAImage]
    public var threads: [ThreadImage]
    public var signalActions: [SignalActionImage]
    public var sharedPendingSignals: [PendingSignal]
    public var intervalTimers: [IntervalTimerImage]
    public var posixTimers: [PosixTimerImage] = []
    /// Device number of the controlling terminal (0: none) and the
    /// terminal's foreground process group, for session leaders to take
    /// their terminal back.
    public var controllingTerminal: UInt64 = 0
    public var foregroundGroup: Int32 = 0
    /// /proc/PID/oom_score_adj (absent in older images).
    public var oomScoreAdjust: Int32?
    /// The nice value of a session leader's autogroup (/proc/PID/autogroup),
    /// which weighs the whole session against the others; absent when 0.
    public var autogroupNice: Int32?
    /// In a job-control stop (SIGSTOP, or SIGTSTP from a terminal's ^Z)
    /// at the dump; absent when running.
    public var stopped: Bool?
    /// Subreaper, dumpable, THP disabled (absent in older images).
    public var controls: ProcessControls?
    /// The cgroup of each hierarchy the process was in (absent in older
    /// images).
    public var cgroups: [CgroupMembership]?
    /// The namespaces of its own it was in (namespaces.json); absent when
    /// it shared every one with crtool.
    public var namespaces: NamespaceMembership?
    /// In a PID namespace of its own: its pid in crtool's, then in its
    /// own (NSpid); the restore gives it both. Absent in crtool's.
    public var namespacePids: [Int32]?
    /// The audit login uid (/proc/PID/loginuid; 4294967295: none), which
    /// audit records carry to say on whose behalf the process runs.
    public var loginUID: UInt32?
    /// mlockall(MCL_FUTURE): mappings made from now on are locked, at
    /// once or (MCL_ONFAULT) as they are touched. Absent: not asked for.
    public var lockFutureMappings: FutureMappingLock?
    /// Each file mapped by path, once, as it was (absent in older images).
    public var mappedFiles: [MappedFileImage]?
    public var files: [FileDescriptorImage]
    /// Page file of this process in the image directory.
    public var pagesFile: String
}

public struct Credentials: Codable, Equatable, Sendable {
    /// real, effective, saved, filesystem
    public var uids: [UInt32]
    public var gids: [UInt32]
    public var groups: [UInt32]
    public var capInheritable: UInt64
    public var capPermitted: UInt64
    public var capEffective: UInt64
    public var capBounding: UInt64
    public var capAmbient: UInt64
    public var noNewPrivs: Bool
}

/// The mm fields PR_SET_MM_MAP restores: where code, data, heap, stack,
/// arguments and environment sit, and the auxiliary vector.
public struct MemoryLayoutImage: Codable, Equatable, Sendable {
    public var startCode: UInt64
    public var endCode: UInt64
    public var startData: UInt64
    public var endData: UInt64
    public var startBrk: UInt64
    public var brk: UInt64
    public var startStack: UInt64
    public var argStart: UInt64
    public var argEnd: UInt64
    public var envStart: UInt64
    public var envEnd: UInt64
    public var auxv: [UInt64]
}

public enum VMAKind: String, Codable, Sendable {
    /// Private anonymous memory (heap, stacks, malloc arenas): every page saved.
    case anonymous
    /// MAP_SHARED|MAP_ANONYMOUS: every page saved, mapped shared again.
    case sharedAnonymous
    /// MAP_PRIVATE of a file: mapped from the file again, copied-on-write pages saved.
    case privateFile
    /// MAP_SHARED of a file: mapped from the file again, no pages saved.
    case sharedFile
    /// [vdso], [vvar], [vvar_vclock]: the new kernel's own are moved here.
    case vdso, vvar, vvarVclock
    /// [vsyscall]: fixed by the kernel, nothing to do.
    case vsyscall
    /// A Linux AIO context's completion ring (io_setup): made again by
    /// io_setup and moved here, never mapped from the image.
    case aioRing
    /// A packet socket's receive ring (PACKET_RX_RING), as capture tools
    /// map it: mapped again from the socket once the socket is made, its
    /// bytes saved with the socket (`PacketRingImage`).
    case packetRing

    /// Kinds the restore makes otherwise than by mapping them with their
    /// protection, so that the steps for memory (protections, advice,
    /// locks) leave them alone.
    public var isMadeApart: Bool {
        switch self {
        case .vdso, .vvar, .vvarVclock, .vsyscall, .aioRing, .packetRing: return true
        case .anonymous, .sharedAnonymous, .privateFile, .sharedFile: return false
        }
    }
}

public struct VMAImage: Codable, Equatable, Sendable {
    public var start: UInt64
    public var end: UInt64
    /// "rwxp" as in /proc/PID/maps.
    public var protection: String
    public var kind: VMAKind
    public var offset: UInt64
    public var path: String?
    /// VmFlags from smaps ("gd" grows down, "dc" don't copy, …).
    public var flags: [String]
    /// Pages of this VMA stored in the page file (zero pages are not).
    public var pagesStored: UInt64
    /// The shared-memory object (shared anonymous memory, memfd) this VMA
    /// maps, by inode: its content is saved once for every process.
    public var sharedMemory: UInt64? = nil
    /// The System V shared memory segment (shmid) this VMA attaches: its
    /// content is saved once with the segment (sysv-ipc.json), and the
    /// restore attaches it again here with shmat.
    public var sysvShm: Int32? = nil
    /// The AIO context whose completion ring this VMA is (kind aioRing).
    public var aioRing: AioRingImage? = nil
    /// The packet socket whose ring this VMA maps (kind packetRing), by
    /// its inode, as the socket's descriptor records it; `offset` is
    /// where in the ring the VMA starts.
    public var ringSocket: UInt64? = nil
    /// Memory from the hugetlb pool (MAP_HUGETLB): its page size in bytes.
    public var hugePageSize: UInt64? = nil
    /// A NUMA policy of the range's own (mbind); absent: the thread's.
    public var memoryPolicy: MemoryPolicy? = nil
    /// Runs of anonymous memory that transparent huge pages mapped whole
    /// at the dump (2 MiB aligned, whole huge pages): the restore makes
    /// them huge pages again. Absent: none, or an older image.
    public var transparentHugePages: [PageRange]? = nil

    public var size: UInt64 { end - start }
    public var readable: Bool { protection.hasPrefix("r") }
    public var writable: Bool { protection.dropFirst().first == "w" }
    public var executable: Bool { protection.dropFirst(2).first == "x" }
    /// PROT_* bits.
    public var prot: UInt64 { (readable ? 1 : 0) | (writable ? 2 : 0) | (executable ? 4 : 0) }
}

public struct ThreadImage: Codable, Equatable, Sendable {
    public var tid: Int32
    /// Its tid in crtool's PID namespace, then in its process's, when
    /// that is not crtool's.
    public var namespaceTids: [Int32]?
    public var name: String
    public var registers: Registers
    /// XSAVE area (FPU, SSE, AVX state) as PTRACE_GETREGSET gave it.
    public var extendedState: Data
    public var signalMask: UInt64
    public var pendingSignals: [PendingSignal]
    public var rseq: RseqConfiguration?
    /// Policy, nice, CPUs and I/O priority (absent in older images).
    public var scheduling: ThreadScheduling?
    /// PR_SET_PDEATHSIG: the signal this thread gets when the thread that
    /// created it exits (absent: none).
    public var parentDeathSignal: Int32?
    /// PR_SET_TIMERSLACK, in nanoseconds (absent in older images; 0 for
    /// real-time threads, which have none).
    public var timerSlack: UInt64?
    /// The thread's NUMA policy (set_mempolicy); absent: the default.
    public var memoryPolicy: MemoryPolicy?
    public var robustListHead: UInt64
    public var robustListLength: UInt64
    public var clearChildTid: UInt64
    public var alternateStack: AlternateStack
    /// The system call the thread was inside, by name, for people reading the image.
    public var stoppedIn: String?
    /// PR_SET_NO_NEW_PRIVS, per thread in the kernel.
    public var noNewPrivs: Bool = false
    /// Classic BPF seccomp filters (struct sock_filter arrays), oldest
    /// first, in the order they must be installed again.
    public var seccompFilters: [Data] = []
}

public struct AlternateStack: Codable, Equatable, Sendable {
    public var base: UInt64
    public var flags: Int32
    public var size: UInt64
    public static let disabled = AlternateStack(base: 0, flags: 2, size: 0) // SS_DISABLE
}

public struct PendingSignal: Codable, Equatable, Sendable {
    public var signal: Int32
    /// The siginfo_t as queued, so it is delivered again unchanged.
    public var info: Data
}

public struct SignalActionImage: Codable, Equatable, Sendable {
    public var signal: Int32
    public var handler: UInt64
    public var flags: UInt64
    public var restorer: UInt64
    public var mask: UInt64
}

public struct IntervalTimerImage: Codable, Equatable, Sendable {
    /// ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF
    public var which: Int32
    public var intervalMicroseconds: UInt64
    public var valueMicroseconds: UInt64

    /// The time left to arm it with again. A periodic ITIMER_REAL that
    /// has fired shows nothing left until its SIGALRM is taken off the
    /// queue, when the kernel arms it for the next period; set with
    /// nothing left it would stop for good, so it gets a whole period.
    public var valueToArmMicroseconds: UInt64 {
        valueMicroseconds == 0 ? intervalMicroseconds : valueMicroseconds
    }
}
