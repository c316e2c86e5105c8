import CSupport
import Glibc

/// The hugetlb pool: memory of huge pages reserved ahead (vm.nr_hugepages)
/// that MAP_HUGETLB mappings take their pages from.
public enum HugePages {
    /// MAP_HUGETLB with the page size.
    public static func mapFlags(pageSize: UInt64) -> UInt64 {
        0x40000 | sizeFlag(pageSize: pageSize)
    }

    /// The page size's log2 in bits 26 and up: mmap's MAP_HUGE_SHIFT,
    /// memfd_create's MFD_HUGE_SHIFT and shmget's SHM_HUGE_SHIFT alike.
    public static func sizeFlag(pageSize: UInt64) -> UInt64 {
        UInt64(pageSize.trailingZeroBitCount) << 26
    }

    /// The page size of a file of the hugetlb pool (a hugetlbfs file, a
    /// memfd made with MFD_HUGETLB, the file behind MAP_HUGETLB memory):
    /// hugetlbfs gives it as its block size. nil for any other file.
    public static func pageSize(ofFile fd: Int32) -> UInt64? {
        var blockSize: UInt64 = 0
        guard cr_fd_fs_magic(fd, &blockSize) == FileSystemMagic.hugetlbfs, blockSize > 0 else { return nil }
        return blockSize
    }

    /// Pages of `pageSize` the pool has free now, if this kernel has a pool of that size.
    public static func free(pageSize: UInt64) -> Int? {
        poolCount("free_hugepages", pageSize: pageSize)
    }

    /// Pages of `pageSize` a new mapping can reserve now: the pool's free
    /// pages that no mapping has reserved yet, and the surplus pages the
    /// kernel may still add (vm.nr_overcommit_hugepages). nil if this
    /// kernel has no pool of that size.
    public static func available(pageSize: UInt64) -> Int? {
        func count(_ name: String) -> Int? { poolCount(name, pageSize: pageSize) }
        guard let free = count("free_hugepages") else { return nil }
        let surplusRoom = max(0, (count("nr_overcommit_hugepages") ?? 0) - (count("surplus_hugepages") ?? 0))
        return max(0, free - (count("resv_hugepages") ?? 0)) + surplusRoom
    }

    /// One of the pool's counters in sysfs, for pages of `pageSize`.
    private static func poolCount(_ name: String, pageSize: UInt64) -> Int? {
        let path = "/sys/kernel/mm/hugepages/hugepages-\(pageSize / 1024)kB/\(name)"
        return (try? ProcFile.text(path, pid: getpid())).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Why a mapping of `bytes` from the pool could not be made, when the
    /// pool is the reason.
    public static func shortage(bytes: UInt64, pageSize: UInt64) -> String {
        "it " + shortage(needing: pages(covering: bytes, pageSize: pageSize), pageSize: pageSize, free: free(pageSize: pageSize))
    }

    /// Huge pages of `pageSize` that `bytes` take, the last one partly.
    public static func pages(covering bytes: UInt64, pageSize: UInt64) -> UInt64 {
        (bytes + pageSize - 1) / pageSize
    }

    /// "needs N huge pages of S kB and the hugetlb pool has F free".
    public static func shortage(needing needed: UInt64, pageSize: UInt64, free: Int?) -> String {
        "needs \(needed) huge pages of \(pageSize / 1024) kB and the hugetlb pool has \(free.map(String.init) ?? "none") free (vm.nr_hugepages)"
    }
}

/// A shared mapping of one of crtool's own files for writing into it: a
/// file of the hugetlb pool takes no write(2), only stores through a
/// mapping.
public final class WritableMapping {
    public let size: Int
    let base: UnsafeMutableRawPointer

    public init(fd: Int32, size: Int, what: String) throws {
        precondition(size > 0)
        guard let address = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), address != MAP_FAILED else {
            throw SystemError("mmap of \(size) bytes of \(what) for writing")
        }
        self.size = size
        base = address
    }

    /// Copies `bytes[range]` to `offset` in the file.
    public func write(_ bytes: [UInt8], range: Range<Int>, at offset: UInt64) throws {
        guard offset <= UInt64(size), UInt64(range.count) <= UInt64(size) - offset else {
            throw SystemError("writing \(range.count) bytes at \(offset) of a \(size)-byte mapping", errno: EFAULT)
        }
        bytes.withUnsafeBytes { b in
            (base + Int(offset)).copyMemory(from: b.baseAddress! + range.lowerBound, byteCount: range.count)
        }
    }

    deinit {
        munmap(base, size)
    }
}
