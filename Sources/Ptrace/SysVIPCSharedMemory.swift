import CSupport
import Glibc

/// A System V shared memory segment as IPC_STAT shows it.
public struct SysVSharedMemoryStatus: Equatable, Sendable {
    public var id: Int32
    public var ownership: SysVOwnership
    /// Bytes asked for at shmget; mappings are this rounded up to pages.
    public var size: UInt64
    public var attachments: UInt64
}

/// shmget/shmctl/shmat for crtool's own use, with typed results.
public enum SysVSharedMemory {
    /// Mode bits the kernel keeps for its own state.
    public static let destroyed: UInt32 = 0o1000 // SHM_DEST: removed, alive while attached
    public static let locked: UInt32 = 0o2000    // SHM_LOCKED
    /// shmat flags.
    public static let attachReadOnly: UInt64 = 0o10000 // SHM_RDONLY
    public static let attachRemap: UInt64 = 0o40000    // SHM_REMAP
    public static let attachExec: UInt64 = 0o100000    // SHM_EXEC

    public static func status(id: Int32) throws -> SysVSharedMemoryStatus {
        var ds = shmid_ds()
        let r = withUnsafeMutablePointer(to: &ds) {
            SysVIPC.raw(Syscall.shmctl, id, UInt64(SysVIPC.stat), UInt64(UInt(bitPattern: $0)))
        }
        if r < 0 { throw SystemError("IPC_STAT of System V shared memory \(id)") }
        return SysVSharedMemoryStatus(id: id, ownership: SysVOwnership(ds.shm_perm), size: UInt64(ds.shm_segsz),
                                      attachments: UInt64(ds.shm_nattch))
    }

    /// Bytes of the segment in swap, from /proc/sysvipc/shm (its last
    /// column); nil when the segment is not listed.
    public static func swappedBytes(id: Int32) throws -> UInt64? {
        let text = try ProcFile.text("/proc/sysvipc/shm")
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 2, Int32(fields[1]) == id { return fields.last.flatMap { UInt64($0) } }
        }
        return nil
    }

    /// A new segment of `size` bytes under `key` (IPC_PRIVATE is 0), mode
    /// 0600 until its owner and mode are set; fails with EEXIST if the key
    /// is taken. With `hugePageSize`, on huge pages (SHM_HUGETLB).
    public static func create(key: Int32, size: UInt64, hugePageSize: UInt64? = nil) throws -> Int32 {
        var flags = UInt64(SysVIPC.create | SysVIPC.exclusive | 0o600)
        if let hugePageSize { flags |= 0o4000 | HugePages.sizeFlag(pageSize: hugePageSize) } // SHM_HUGETLB
        let r = SysVIPC.raw(Syscall.shmget, key, size, flags)
        if r < 0 {
            let e = errno
            if let hugePageSize, e == ENOMEM {
                throw SystemError("shmget of \(size) bytes on huge pages with key \(SysVIPC.keyText(key)) (\(HugePages.shortage(bytes: size, pageSize: hugePageSize)))", errno: e)
            }
            throw SystemError("shmget of \(size) bytes with key \(SysVIPC.keyText(key))", errno: e)
        }
        return Int32(r)
    }

    /// IPC_SET: owner, group and the nine permission bits.
    public static func setOwnership(id: Int32, uid: UInt32, gid: UInt32, mode: UInt32) throws {
        var ds = shmid_ds()
        try withUnsafeMutablePointer(to: &ds) { p in
            if SysVIPC.raw(Syscall.shmctl, id, UInt64(SysVIPC.stat), UInt64(UInt(bitPattern: p))) < 0 {
                throw SystemError("IPC_STAT of System V shared memory \(id)")
            }
            p.pointee.shm_perm.uid = uid
            p.pointee.shm_perm.gid = gid
            p.pointee.shm_perm.mode = mode & 0o777
            if SysVIPC.raw(Syscall.shmctl, id, UInt64(SysVIPC.set), UInt64(UInt(bitPattern: p))) < 0 {
                throw SystemError("IPC_SET of System V shared memory \(id)")
            }
        }
    }

    /// The size of struct shmid64_ds, and where in it shm_segsz is, for
    /// an IPC_STAT injected into a process of another IPC namespace.
    public static let statusSize = MemoryLayout<shmid_ds>.size
    public static let sizeOffset = UInt64(MemoryLayout<shmid_ds>.offset(of: \shmid_ds.shm_segsz)!)

    /// SHM_LOCK: the segment's pages stay in memory.
    public static func lock(id: Int32) throws {
        if SysVIPC.raw(Syscall.shmctl, id, 11, 0) < 0 { throw SystemError("SHM_LOCK of System V shared memory \(id)") }
    }

    /// Attaches the segment to crtool itself, to read or fill it.
    public static func attach(id: Int32, readOnly: Bool) throws -> SysVSharedMemoryAttachment {
        let st = try status(id: id)
        let r = SysVIPC.raw(Syscall.shmat, id, 0, readOnly ? attachReadOnly : 0)
        if r < 0 && r > -4096 { throw SystemError("shmat of System V shared memory \(id)") }
        return SysVSharedMemoryAttachment(id: id, base: UInt(bitPattern: r), size: st.size)
    }
}

/// A segment attached to crtool, read and written by offset. Detached
/// when done with (detach, or deinit).
public final class SysVSharedMemoryAttachment {
    public let id: Int32
    /// The segment's size in bytes; the attachment covers it rounded up to pages.
    public let size: UInt64
    private var base: UInt
    private var mapped: UInt64 { (size + 4095) & ~4095 }

    init(id: Int32, base: UInt, size: UInt64) {
        self.id = id
        self.base = base
        self.size = size
    }

    deinit { detach() }

    public func detach() {
        guard base != 0 else { return }
        _ = cr_syscall6(Int(Syscall.shmdt), UInt64(base), 0, 0, 0, 0, 0)
        base = 0
    }

    /// For each page of the segment: whether it holds data (mincore on
    /// the attachment). A page never written is a hole and reads as zeros;
    /// reading it would make the kernel allocate it, so it is not read.
    public func residentPages() throws -> [Bool] {
        let pages = Int(mapped / 4096)
        var vector = [UInt8](repeating: 0, count: max(pages, 1))
        let r = vector.withUnsafeMutableBufferPointer { v in
            mincore(UnsafeMutableRawPointer(bitPattern: base), Int(mapped), v.baseAddress)
        }
        if r != 0 { throw SystemError("mincore of System V shared memory \(id)") }
        return vector[0..<pages].map { $0 & 1 != 0 }
    }

    /// The same for a segment on huge pages (SHM_HUGETLB) of
    /// `hugePageSize`: there mincore sees only crtool's own page table,
    /// where no page is yet, so the huge pages that exist are found by
    /// `cr_hugetlb_present`, which allocates none; it needs an attachment
    /// made without `readOnly`.
    public func residentPages(hugePageSize: UInt64) throws -> [Bool] {
        let operation = "finding the huge pages of System V shared memory \(id)"
        guard base != 0, hugePageSize >= 4096 else { throw SystemError(operation, errno: EINVAL) }
        let length = (size + hugePageSize - 1) / hugePageSize * hugePageSize
        var present = [UInt8](repeating: 0, count: Int(length / hugePageSize))
        let r = present.withUnsafeMutableBufferPointer { cr_hugetlb_present(UInt64(base), length, hugePageSize, $0.baseAddress) }
        if r < 0 { throw SystemError(operation, errno: Int32(-r)) }
        let perHugePage = Int(hugePageSize / 4096)
        return (0..<Int(mapped / 4096)).map { present[$0 / perHugePage] != 0 }
    }

    /// Copies `count` bytes at `offset` of the segment into `buffer[0...]`.
    public func read(into buffer: inout [UInt8], count: Int, at offset: UInt64) throws {
        guard base != 0, offset + UInt64(count) <= mapped, count <= buffer.count else {
            throw SystemError("reading \(count) bytes at \(offset) of System V shared memory \(id)", errno: EINVAL)
        }
        buffer.withUnsafeMutableBytes { b in
            b.baseAddress!.copyMemory(from: UnsafeRawPointer(bitPattern: base + UInt(offset))!, byteCount: count)
        }
    }

    /// Copies `bytes[range]` to `offset` of the segment.
    public func write(_ bytes: [UInt8], range: Range<Int>, at offset: UInt64) throws {
        guard base != 0, offset + UInt64(range.count) <= mapped, range.upperBound <= bytes.count else {
            throw SystemError("writing \(range.count) bytes at \(offset) of System V shared memory \(id)", errno: EINVAL)
        }
        bytes.withUnsafeBytes { b in
            UnsafeMutableRawPointer(bitPattern: base + UInt(offset))!.copyMemory(from: b.baseAddress! + range.lowerBound, byteCount: range.count)
        }
    }
}
