import CSupport
import Glibc

/// System V IPC system calls crtool calls for itself or injects. They are
/// ABI and never change (x86-64).
extension Syscall {
    public static let shmget: Int64 = 29
    public static let shmat: Int64 = 30
    public static let shmctl: Int64 = 31
    public static let semget: Int64 = 64
    public static let semctl: Int64 = 66
    public static let shmdt: Int64 = 67
    public static let msgget: Int64 = 68
    public static let msgsnd: Int64 = 69
    public static let msgrcv: Int64 = 70
    public static let msgctl: Int64 = 71
}

/// The three kinds of System V IPC object, named as /proc/sysvipc and
/// /proc/sys/kernel name them.
public enum SysVIPCKind: String, Sendable, CaseIterable {
    case sharedMemory = "shm"
    case semaphores = "sem"
    case messageQueue = "msg"

    /// How a person would call one object of this kind.
    public var noun: String {
        switch self {
        case .sharedMemory: return "shared memory segment"
        case .semaphores: return "semaphore set"
        case .messageQueue: return "message queue"
        }
    }

    /// The ipcrm option that removes one by id.
    public var ipcrmOption: String {
        switch self {
        case .sharedMemory: return "-m"
        case .semaphores: return "-s"
        case .messageQueue: return "-q"
        }
    }
}

/// Who owns a System V IPC object and who may use it (struct ipc_perm).
/// `mode` keeps the kernel's state bits too (SHM_DEST, SHM_LOCKED).
public struct SysVOwnership: Equatable, Sendable {
    public var key: Int32
    public var uid: UInt32
    public var gid: UInt32
    public var cuid: UInt32
    public var cgid: UInt32
    public var mode: UInt32

    init(_ p: ipc_perm) {
        key = p.__key
        uid = p.uid
        gid = p.gid
        cuid = p.cuid
        cgid = p.cgid
        mode = UInt32(p.mode)
    }
}

/// One object listed in /proc/sysvipc/<kind>.
public struct SysVIPCEntry: Equatable, Sendable {
    public var key: Int32
    public var id: Int32
}

/// What the IPC namespace crtool runs in holds, and the knobs the kernel
/// offers for checkpoint/restore.
public enum SysVIPC {
    static let create: Int32 = 0o1000   // IPC_CREAT
    static let exclusive: Int32 = 0o2000 // IPC_EXCL
    static let remove: Int32 = 0         // IPC_RMID
    static let set: Int32 = 1            // IPC_SET
    public static let stat: Int32 = 2           // IPC_STAT

    /// Every object of a kind, from /proc/sysvipc/<kind> (key and id are
    /// its first two columns).
    public static func list(_ kind: SysVIPCKind) throws -> [SysVIPCEntry] {
        let text = try ProcFile.text("/proc/sysvipc/\(kind.rawValue)")
        var result: [SysVIPCEntry] = []
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, let key = Int64(fields[0]), let id = Int32(fields[1]) else { continue }
            result.append(SysVIPCEntry(key: Int32(truncatingIfNeeded: key), id: id))
        }
        return result
    }

    /// An id is a sequence number above a slot index; the kernel can hand
    /// out a given id only while its slot is free. The slot takes 15 bits,
    /// 24 when the kernel was booted with ipcmni_extend.
    public static let indexMask: Int32 = {
        let cmdline = (try? ProcFile.text("/proc/cmdline")) ?? ""
        return cmdline.split(separator: " ").contains("ipcmni_extend") ? 0xff_ffff : 0x7fff
    }()

    /// Makes the next object of `kind` created in this namespace take `id`
    /// (CONFIG_CHECKPOINT_RESTORE); -1 goes back to the kernel's choice.
    public static func setNextID(_ kind: SysVIPCKind, _ id: Int32) throws {
        let path = "/proc/sys/kernel/\(kind.rawValue)_next_id"
        let fd = Glibc.open(path, O_WRONLY | O_CLOEXEC)
        if fd < 0 { throw SystemError("open \(path)") }
        defer { close(fd) }
        let text = Array("\(id)\n".utf8)
        let n = text.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        if n != text.count { throw SystemError("writing \(id) to \(path)", errno: n < 0 ? errno : EIO) }
    }

    /// IPC_RMID. A shared memory segment still attached somewhere lives on
    /// until the last detach, without its key.
    public static func remove(_ kind: SysVIPCKind, id: Int32) throws {
        let nr: Int64
        switch kind {
        case .sharedMemory: nr = Syscall.shmctl
        case .semaphores: nr = Syscall.semctl
        case .messageQueue: nr = Syscall.msgctl
        }
        let r = kind == .semaphores ? cr_syscall6(Int(nr), UInt64(UInt32(bitPattern: id)), 0, UInt64(remove), 0, 0, 0)
                                    : cr_syscall6(Int(nr), UInt64(UInt32(bitPattern: id)), UInt64(remove), 0, 0, 0, 0)
        if r < 0 { throw SystemError("removing System V \(kind.noun) \(id)") }
    }

    /// `key` as ipcs prints it.
    public static func keyText(_ key: Int32) -> String {
        let hex = String(UInt32(bitPattern: key), radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 8 - hex.count)) + hex
    }

    static func raw(_ nr: Int64, _ a1: Int32, _ a2: UInt64, _ a3: UInt64 = 0, _ a4: UInt64 = 0) -> Int {
        cr_syscall6(Int(nr), UInt64(UInt32(bitPattern: a1)), a2, a3, a4, 0, 0)
    }
}
