import Glibc
import Ptrace
import XCTest

/// stat, status, limits and fdinfo parsed from fixed samples of real kernel output.
final class ProcFileSampleTests: XCTestCase {
    /// Fields 3… of a stat line after the command, 52 fields in all (Linux 6.18).
    static func statLine(pid: String, command: String, state: String = "S", flags: String = "4194304", threads: String = "3",
                         exitStatus: String = "0") -> String {
        "\(pid) (\(command)) \(state) 29309 29310 26579 0 -1 \(flags) 100 0 0 0 7 3 0 0 20 0 \(threads) 0 215836 3133440 414 "
            + "18446744073709551615 94528893349888 94528893369769 140726897042128 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 "
            + "94528893385776 94528893387392 94529926283264 140726897048267 140726897048287 140726897048287 140726897049579 \(exitStatus)\n"
    }

    func testStatFields() throws {
        let s = try ProcStat.parse(Self.statLine(pid: "4242", command: "sleep"))
        XCTAssertEqual(s.pid, 4242)
        XCTAssertEqual(s.command, "sleep")
        XCTAssertEqual(s.state, "S")
        XCTAssertEqual(s.ppid, 29309)
        XCTAssertEqual(s.pgid, 29310)
        XCTAssertEqual(s.sid, 26579)
        XCTAssertEqual(s.flags, 4_194_304)
        XCTAssertEqual(s.threads, 3)
        XCTAssertEqual(s.startCode, 94_528_893_349_888)
        XCTAssertEqual(s.endCode, 94_528_893_369_769)
        XCTAssertEqual(s.startStack, 140_726_897_042_128)
        XCTAssertEqual(s.startData, 94_528_893_385_776)
        XCTAssertEqual(s.endData, 94_528_893_387_392)
        XCTAssertEqual(s.startBrk, 94_529_926_283_264)
        XCTAssertEqual(s.argStart, 140_726_897_048_267)
        XCTAssertEqual(s.argEnd, 140_726_897_048_287)
        XCTAssertEqual(s.envStart, 140_726_897_048_287)
        XCTAssertEqual(s.envEnd, 140_726_897_049_579)
        XCTAssertFalse(s.isKernelThread)
        XCTAssertEqual(s.exitStatus, 0)
        XCTAssertNil(s.ending, "a running process has not ended")
    }

    func testStatOfAZombieNamesHowItEnded() throws {
        let killed = try ProcStat.parse(Self.statLine(pid: "5", command: "job", state: "Z", exitStatus: "9"))
        XCTAssertEqual(killed.ending, .killed(signal: 9))
        let exited = try ProcStat.parse(Self.statLine(pid: "5", command: "job", state: "Z", exitStatus: "768"))
        XCTAssertEqual(exited.exitStatus, 768)
        XCTAssertEqual(exited.ending, .exited(3))
    }

    func testStatCommandWithParenthesesAndSpaces() throws {
        // Each command is what the process named itself; stat wraps it in one more pair.
        for command in ["(a) b)", "a) b", "x) R 1 2 3 (y", "Web Content", "()", ") ) )", ""] {
            let s = try ProcStat.parse(Self.statLine(pid: "77", command: command, state: "R", threads: "12"))
            XCTAssertEqual(s.command, command)
            XCTAssertEqual(s.pid, 77, command)
            XCTAssertEqual(s.state, "R", command)
            XCTAssertEqual(s.ppid, 29309, command)
            XCTAssertEqual(s.threads, 12, command)
            XCTAssertEqual(s.envEnd, 140_726_897_049_579, command)
        }
    }

    func testStatKernelThreadFlag() throws {
        let s = try ProcStat.parse(Self.statLine(pid: "2", command: "kthreadd", flags: "2129984")) // PF_KTHREAD | PF_NOFREEZE | PF_FORKNOEXEC
        XCTAssertTrue(s.isKernelThread)
    }

    func testStatWithoutTrailingNewline() throws {
        var line = Self.statLine(pid: "9", command: "cat")
        line.removeLast()
        XCTAssertEqual(try ProcStat.parse(line).envEnd, 140_726_897_049_579)
    }

    static let status = """
    Name:\tWeb Content
    Umask:\t0027
    State:\tS (sleeping)
    Tgid:\t5120
    Ngid:\t0
    Pid:\t5123
    PPid:\t5001
    TracerPid:\t0
    Uid:\t1000\t1001\t1002\t1003
    Gid:\t2000\t2001\t2002\t2003
    FDSize:\t64
    Groups:\t4 24 27 1000 
    NStgid:\t5120
    NSpid:\t5123
    VmRSS:\t    1616 kB
    Threads:\t7
    SigQ:\t0/96365
    SigPnd:\t0000000000000100
    ShdPnd:\t0000000000004000
    SigBlk:\t0000000000010000
    SigIgn:\t0000000000001000
    SigCgt:\t0000000180004a07
    CapInh:\t0000000000000000
    CapPrm:\t000001fffeffffff
    CapEff:\t000001fffeffffff
    CapBnd:\t000001ffffffffff
    CapAmb:\t0000000000000001
    NoNewPrivs:\t1
    Seccomp:\t2
    Seccomp_filters:\t1
    Speculation_Store_Bypass:\tthread vulnerable
    Cpus_allowed_list:\t0-1
    voluntary_ctxt_switches:\t3

    """

    func testStatusFields() throws {
        let s = try ProcStatus.parse(Self.status)
        XCTAssertEqual(s.name, "Web Content")
        XCTAssertEqual(s.state, "S (sleeping)")
        XCTAssertEqual(s.tgid, 5120)
        XCTAssertEqual(s.pid, 5123)
        XCTAssertEqual(s.ppid, 5001)
        XCTAssertEqual(s.umask, 0o027)
        XCTAssertEqual(s.uids, [1000, 1001, 1002, 1003])
        XCTAssertEqual(s.gids, [2000, 2001, 2002, 2003])
        XCTAssertEqual(s.groups, [4, 24, 27, 1000])
        XCTAssertEqual(s.capInheritable, 0)
        XCTAssertEqual(s.capPermitted, 0x1ff_feff_ffff)
        XCTAssertEqual(s.capEffective, 0x1ff_feff_ffff)
        XCTAssertEqual(s.capBounding, 0x1ff_ffff_ffff)
        XCTAssertEqual(s.capAmbient, 1)
        XCTAssertTrue(s.noNewPrivs)
        XCTAssertEqual(s.seccompMode, 2)
        XCTAssertEqual(s.threads, 7)
        XCTAssertEqual(s.signalsBlocked, 1 << (UInt64(SIGCHLD) - 1))
        XCTAssertEqual(s.signalsIgnored, 0x1000)
        XCTAssertEqual(s.signalsCaught, 0x1_8000_4a07)
        XCTAssertEqual(s.signalsPending, 1 << (SIGKILL - 1))
        XCTAssertEqual(s.signalsPendingShared, 1 << (SIGTERM - 1))
        XCTAssertEqual(s.fields["Speculation_Store_Bypass"], "thread vulnerable")
        XCTAssertEqual(s.fields["VmRSS"], "1616 kB")
        XCTAssertEqual(s.fields["Cpus_allowed_list"], "0-1")
    }

    func testStatusWithEmptyGroupsAndNoUmask() throws {
        // A kernel thread: no Umask line, and Groups holds only the separator the kernel prints.
        let text = """
        Name:\tkworker/0:1
        State:\tI (idle)
        Tgid:\t12
        Pid:\t12
        PPid:\t2
        Uid:\t0\t0\t0\t0
        Gid:\t0\t0\t0\t0
        Groups:\t 
        Threads:\t1
        NoNewPrivs:\t0
        Seccomp:\t0

        """
        let s = try ProcStatus.parse(text)
        XCTAssertEqual(s.groups, [])
        XCTAssertNil(s.umask)
        XCTAssertEqual(s.name, "kworker/0:1")
        XCTAssertEqual(s.uids, [0, 0, 0, 0])
        XCTAssertFalse(s.noNewPrivs)
        XCTAssertEqual(s.seccompMode, 0)
        XCTAssertEqual(s.signalsBlocked, 0)
        XCTAssertEqual(s.capEffective, 0)
    }

    func testStatusGroupsLineWithNothingAfterTheColon() throws {
        let s = try ProcStatus.parse("Tgid:\t1\nPid:\t1\nPPid:\t0\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\n")
        XCTAssertEqual(s.groups, [])
        XCTAssertEqual(s.threads, 1, "a missing Threads line means one thread")
    }

    static let limits = """
    Limit                     Soft Limit           Hard Limit           Units     
    Max cpu time              unlimited            unlimited            seconds   
    Max file size             unlimited            unlimited            bytes     
    Max data size             unlimited            unlimited            bytes     
    Max stack size            8388608              unlimited            bytes     
    Max core file size        0                    unlimited            bytes     
    Max resident set          unlimited            unlimited            bytes     
    Max processes             96365                96365                processes 
    Max open files            20000                1048576              files     
    Max locked memory         8388608              8388608              bytes     
    Max address space         unlimited            unlimited            bytes     
    Max file locks            unlimited            unlimited            locks     
    Max pending signals       96365                96365                signals   
    Max msgqueue size         819200               819200               bytes     
    Max nice priority         0                    0                    
    Max realtime priority     0                    0                    
    Max realtime timeout      unlimited            unlimited            us        

    """

    func testLimitsInResourceOrderWithUnlimited() throws {
        let limits = try Limits.parse(Self.limits)
        XCTAssertEqual(limits.map(\.resource), Array(0..<16))
        XCTAssertEqual(limits[0].name, "Max cpu time")
        XCTAssertEqual(limits[0].soft, UInt64.max)
        XCTAssertEqual(limits[3].name, "Max stack size")
        XCTAssertEqual(limits[3].soft, 8_388_608)
        XCTAssertEqual(limits[3].hard, UInt64.max)
        XCTAssertEqual(limits[4].soft, 0)
        XCTAssertEqual(limits[7].name, "Max open files")
        XCTAssertEqual(limits[7].soft, 20000)
        XCTAssertEqual(limits[7].hard, 1_048_576)
        XCTAssertEqual(limits[10].name, "Max file locks")
        XCTAssertEqual(limits[13].name, "Max nice priority")
        XCTAssertEqual(limits[13].hard, 0)
        XCTAssertEqual(limits[15], ResourceLimit(resource: 15, name: "Max realtime timeout", soft: .max, hard: .max))
        XCTAssertEqual(Int32(RLIMIT_NOFILE.rawValue), limits[7].resource)
        XCTAssertEqual(Int32(RLIMIT_STACK.rawValue), limits[3].resource)
    }

    func testLimitsSkipsUnknownRows() throws {
        let limits = try Limits.parse("Limit Soft Hard Units\nMax open files 1024 4096 files\nMax widgets 1 2\n")
        XCTAssertEqual(limits, [ResourceLimit(resource: 7, name: "Max open files", soft: 1024, hard: 4096)])
    }

    func testFdInfoOfARegularFileWithLocks() throws {
        let text = "pos:\t4096\nflags:\t02102002\nmnt_id:\t27\nino:\t16220308\n"
            + "lock:\t1: POSIX  ADVISORY  WRITE 1234 00:1b:16220308 0 EOF\n"
        let info = try FdInfo.parse(text)
        XCTAssertEqual(info.position, 4096)
        XCTAssertEqual(info.flags, 0o2102002)
        XCTAssertEqual(info.flags & O_ACCMODE, O_RDWR)
        XCTAssertNotEqual(info.flags & O_APPEND, 0)
        XCTAssertNotEqual(info.flags & O_CLOEXEC, 0)
        XCTAssertEqual(info.mountID, 27)
        XCTAssertEqual(info.fields["ino"], "16220308")
        XCTAssertEqual(info.fields["lock"], "1: POSIX  ADVISORY  WRITE 1234 00:1b:16220308 0 EOF")
        XCTAssertEqual(info.locks, [HeldFileLock(kind: .posix, access: .write, pid: 1234, inode: 16220308, start: 0, end: nil)])
    }

    /// Every lock line counts, not only the first, as the kernel prints
    /// them for each kind (two record locks through one descriptor here).
    func testFdInfoLockLinesOfEveryKind() throws {
        let text = "pos:\t0\nflags:\t02100002\nmnt_id:\t27\nino:\t16220964\n"
            + "lock:\t1: POSIX  ADVISORY  WRITE 12019 fe:00:16220964 0 99\n"
            + "lock:\t2: POSIX  ADVISORY  READ 12019 fe:00:16220964 200 EOF\n"
            + "lock:\t3: OFDLCK ADVISORY  WRITE -1 fe:00:16220964 100 149\n"
            + "lock:\t4: FLOCK  ADVISORY  READ 12019 fe:00:16220964 0 EOF\n"
            + "lock:\t5: LEASE  ACTIVE    READ 12019 fe:00:16220964 0 EOF\n"
            + "lock:\t6: LEASE  BREAKING  UNLCK 12019 fe:00:16220964 0 EOF\n"
            + "lock:\t7: LEASE  BREAKING  READ 12019 fe:00:16220964 0 EOF\n"
        let locks = try FdInfo.parse(text).locks
        XCTAssertEqual(locks, [
            HeldFileLock(kind: .posix, access: .write, pid: 12019, inode: 16220964, start: 0, end: 99),
            HeldFileLock(kind: .posix, access: .read, pid: 12019, inode: 16220964, start: 200, end: nil),
            HeldFileLock(kind: .openFileDescription, access: .write, pid: -1, inode: 16220964, start: 100, end: 149),
            HeldFileLock(kind: .flock, access: .read, pid: 12019, inode: 16220964, start: 0, end: nil),
            HeldFileLock(kind: .lease, access: .read, pid: 12019, inode: 16220964, start: 0, end: nil),
            HeldFileLock(kind: .lease, access: .unlocked, pid: 12019, inode: 16220964, start: 0, end: nil, breaking: true),
            HeldFileLock(kind: .lease, access: .read, pid: 12019, inode: 16220964, start: 0, end: nil, breaking: true),
        ])
    }

    /// A fanotify group's fdinfo: its flags, then its marks newest first,
    /// each on an inode (with its file handle), a mount or a file system.
    func testFanotifyGroupAndEveryKindOfMark() throws {
        let text = "pos:\t0\nflags:\t04002\nmnt_id:\t17\nino:\t1039\n"
            + "fanotify flags:3 event-flags:8000\n"
            + "fanotify sdev:fe00000 mflags:0 mask:1 ignored_mask:0\n"
            + "fanotify mnt_id:1b mflags:0 mask:10 ignored_mask:0\n"
            + "fanotify ino:fda217 sdev:fe00000 mflags:40 mask:0 ignored_mask:20 fhandle-bytes:8 fhandle-type:1 f_handle:17a2fd00166e972f\n"
        let group = try FanotifyInfo.parse(text)
        XCTAssertEqual(group.flags, 3)
        XCTAssertEqual(group.eventFlags, 0x8000)
        XCTAssertEqual(group.marks, [
            FanotifyMark(object: .filesystem(device: 0xfe00000), flags: 0, mask: 1, ignoredMask: 0),
            FanotifyMark(object: .mount(27), flags: 0, mask: 0x10, ignoredMask: 0),
            FanotifyMark(object: .inode(0xfda217, device: 0xfe00000, handleType: 1, handle: [0x17, 0xa2, 0xfd, 0x00, 0x16, 0x6e, 0x97, 0x2f]),
                         flags: 0x40, mask: 0, ignoredMask: 0x20),
        ])
        XCTAssertThrowsError(try FanotifyInfo.parse("pos:\t0\nflags:\t02\n"), "no group line")
        XCTAssertThrowsError(try FanotifyInfo.parse("fanotify flags:0 event-flags:0\nfanotify mntns:4 mflags:0 mask:1 ignored_mask:0\n"),
                             "a mark on an object it does not know")
        XCTAssertThrowsError(try FanotifyInfo.parse("fanotify flags:0 event-flags:0\nfanotify mnt_id:1b mflags:0 mask:zz ignored_mask:0\n"))
    }

    func testFdInfoOfAnEpollKeepsTheFirstOfRepeatedKeys() throws {
        let text = "pos:\t0\nflags:\t02\nmnt_id:\t16\nino:\t1057\n"
            + "tfd:        5 events:       19 data:                5  pos:0 ino:41 sdev:d\n"
            + "tfd:        7 events:       19 data:                7  pos:0 ino:42 sdev:d\n"
        let info = try FdInfo.parse(text)
        XCTAssertEqual(info.position, 0)
        XCTAssertEqual(info.flags, O_RDWR)
        XCTAssertEqual(info.mountID, 16)
        XCTAssertEqual(info.fields["tfd"], "5 events:       19 data:                5  pos:0 ino:41 sdev:d")
    }

    func testFdInfoOfAnEventfdAndWithoutMountID() throws {
        let text = "pos:\t0\nflags:\t04002\nino:\t1057\neventfd-count:                0\neventfd-id: 3\neventfd-semaphore: 0\n"
        let info = try FdInfo.parse(text)
        XCTAssertEqual(info.flags, O_RDWR | O_NONBLOCK)
        XCTAssertEqual(info.mountID, 0)
        XCTAssertEqual(info.fields["eventfd-count"], "0")
        XCTAssertEqual(info.fields["eventfd-id"], "3")
    }

    func testFdInfoLargePosition() throws {
        let info = try FdInfo.parse("pos:\t1099511627776\nflags:\t0100000\nmnt_id:\t1\n")
        XCTAssertEqual(info.position, 1 << 40)
        XCTAssertEqual(info.flags & O_ACCMODE, O_RDONLY)
    }
}
