import CSupport
import Glibc

/// A System V semaphore set as IPC_STAT shows it.
public struct SysVSemaphoreSetStatus: Equatable, Sendable {
    public var id: Int32
    public var ownership: SysVOwnership
    public var count: Int
}

/// semget/semctl for crtool's own use, with typed results. semctl goes
/// through the raw system call: the C function is variadic.
public enum SysVSemaphores {
    static let getAll: UInt64 = 13 // GETALL
    static let setAll: UInt64 = 17 // SETALL

    public static func status(id: Int32) throws -> SysVSemaphoreSetStatus {
        var ds = semid_ds()
        let r = withUnsafeMutablePointer(to: &ds) {
            SysVIPC.raw(Syscall.semctl, id, 0, UInt64(SysVIPC.stat), UInt64(UInt(bitPattern: $0)))
        }
        if r < 0 { throw SystemError("IPC_STAT of System V semaphore set \(id)") }
        return SysVSemaphoreSetStatus(id: id, ownership: SysVOwnership(ds.sem_perm), count: Int(ds.sem_nsems))
    }

    /// Every semaphore's value (GETALL).
    public static func values(id: Int32, count: Int) throws -> [UInt16] {
        var values = [UInt16](repeating: 0, count: max(count, 1))
        let r = values.withUnsafeMutableBufferPointer {
            SysVIPC.raw(Syscall.semctl, id, 0, getAll, UInt64(UInt(bitPattern: $0.baseAddress)))
        }
        if r < 0 { throw SystemError("GETALL of System V semaphore set \(id)") }
        return Array(values[0..<count])
    }

    /// A new set of `count` semaphores under `key`, mode 0600 until set.
    public static func create(key: Int32, count: Int) throws -> Int32 {
        let r = SysVIPC.raw(Syscall.semget, key, UInt64(count), UInt64(SysVIPC.create | SysVIPC.exclusive | 0o600))
        if r < 0 { throw SystemError("semget of \(count) semaphores with key \(SysVIPC.keyText(key))") }
        return Int32(r)
    }

    /// SETALL: every semaphore's value at once.
    public static func setValues(id: Int32, _ values: [UInt16]) throws {
        guard !values.isEmpty else { return }
        var copy = values
        let r = copy.withUnsafeMutableBufferPointer {
            SysVIPC.raw(Syscall.semctl, id, 0, setAll, UInt64(UInt(bitPattern: $0.baseAddress)))
        }
        if r < 0 { throw SystemError("SETALL of System V semaphore set \(id)") }
    }

    /// IPC_SET: owner, group and the nine permission bits.
    public static func setOwnership(id: Int32, uid: UInt32, gid: UInt32, mode: UInt32) throws {
        var ds = semid_ds()
        try withUnsafeMutablePointer(to: &ds) { p in
            if SysVIPC.raw(Syscall.semctl, id, 0, UInt64(SysVIPC.stat), UInt64(UInt(bitPattern: p))) < 0 {
                throw SystemError("IPC_STAT of System V semaphore set \(id)")
            }
            p.pointee.sem_perm.uid = uid
            p.pointee.sem_perm.gid = gid
            p.pointee.sem_perm.mode = mode & 0o777
            if SysVIPC.raw(Syscall.semctl, id, 0, UInt64(SysVIPC.set), UInt64(UInt(bitPattern: p))) < 0 {
                throw SystemError("IPC_SET of System V semaphore set \(id)")
            }
        }
    }
}
