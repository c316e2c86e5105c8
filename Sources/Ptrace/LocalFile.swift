import CSupport
import Glibc

/// Plain file I/O on crtool's own descriptors with typed results, for the
/// layers above that must not handle raw pointers: reading a shared-memory
/// object through /proc/PID/map_files, filling a memfd on restore.
public enum LocalFile {
    public static func open(_ path: String, flags: Int32, pid: Int32? = nil, mode: UInt32 = 0o600) throws -> Int32 {
        let fd = Glibc.open(path, flags | O_CLOEXEC, mode_t(mode))
        if fd < 0 { throw SystemError("open \(path)", pid: pid) }
        return fd
    }

    public static func size(_ fd: Int32) throws -> UInt64 {
        var st = stat()
        if fstat(fd, &st) != 0 { throw SystemError("fstat") }
        return UInt64(st.st_size)
    }

    /// fallocate(2) with no flags: allocates blocks for `bytes` at
    /// `offset` and makes the file at least that long. Unlike
    /// posix_fallocate it never falls back to writing zeros where the
    /// file system cannot.
    public static func allocate(_ fd: Int32, at offset: UInt64 = 0, bytes: UInt64) throws {
        let r = cr_syscall6(Int(Syscall.fallocate), UInt64(UInt32(bitPattern: fd)), 0, offset, bytes, 0, 0)
        if r < 0 { throw SystemError("fallocate of \(bytes) bytes at \(offset)") }
    }

    /// The byte ranges that hold data (SEEK_DATA/SEEK_HOLE), so holes of a
    /// sparse shared-memory object are never read.
    public static func dataSegments(_ fd: Int32, size: UInt64) -> [Range<UInt64>] {
        var result: [Range<UInt64>] = []
        var offset: off_t = 0
        while UInt64(offset) < size {
            let data = lseek(fd, offset, 3) // SEEK_DATA
            if data < 0 { break }
            var hole = lseek(fd, data, 4) // SEEK_HOLE
            if hole < 0 || UInt64(hole) > size { hole = off_t(size) }
            if hole <= data { break }
            result.append(UInt64(data)..<UInt64(hole))
            offset = hole
        }
        return result
    }

    /// Reads exactly `count` bytes at `offset` into `buffer[0...]`.
    public static func read(_ fd: Int32, into buffer: inout [UInt8], count: Int, at offset: UInt64) throws {
        var done = 0
        try buffer.withUnsafeMutableBytes { b in
            while done < count {
                let n = pread(fd, b.baseAddress! + done, count - done, off_t(offset) + off_t(done))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { throw SystemError("pread at \(offset + UInt64(done))", errno: n == 0 ? EIO : errno) }
                done += n
            }
        }
    }

    /// Reads up to `count` bytes at `offset`, fewer only at the end of the
    /// file. The array is not zero-filled before the read: restores read
    /// gigabytes of page files, and clearing every buffer first would cost
    /// as much again as the copy out of the page cache.
    public static func read(_ fd: Int32, upTo count: Int, at offset: UInt64) throws -> [UInt8] {
        var failure: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { b, initialized in
            var done = 0
            while done < count {
                let n = pread(fd, b.baseAddress! + done, count - done, off_t(offset) + off_t(done))
                if n < 0 && errno == EINTR { continue }
                if n < 0 { failure = errno }
                if n <= 0 { break }
                done += n
            }
            initialized = done
        }
        if failure != 0 { throw SystemError("pread at \(offset + UInt64(bytes.count))", errno: failure) }
        return bytes
    }

    public static func write(_ fd: Int32, _ bytes: [UInt8], range: Range<Int>, at offset: UInt64) throws {
        var done = 0
        try bytes.withUnsafeBytes { b in
            while done < range.count {
                let n = pwrite(fd, b.baseAddress! + range.lowerBound + done, range.count - done, off_t(offset) + off_t(done))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { throw SystemError("pwrite at \(offset + UInt64(done))", errno: n == 0 ? EIO : errno) }
                done += n
            }
        }
    }

    /// Writes `text` in one write to the control file `path`
    /// (/proc/PID/oom_score_adj, a cgroup's cgroup.procs), which takes a
    /// whole value per write.
    /// write(2), not pwrite: some of them (/proc/PID/autogroup) refuse
    /// an offset.
    public static func writeControl(_ text: String, to path: String, pid: Int32? = nil) throws {
        let fd = try open(path, flags: O_WRONLY | O_CLOEXEC, pid: pid)
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        if n != bytes.count { throw SystemError("write to \(path)", pid: pid, errno: n < 0 ? errno : EIO) }
    }

    /// The file behind shared anonymous memory of `size` bytes (what
    /// mmap(MAP_SHARED | MAP_ANONYMOUS) makes, and /proc/PID/maps names
    /// "/dev/zero (deleted)"): mapped in crtool for the moment of opening
    /// it through /proc/self/map_files, then unmapped.
    /// With `hugePageSize`, the memory comes from the hugetlb pool
    /// (MAP_HUGETLB; maps names it "/anon_hugepage (deleted)").
    public static func sharedAnonymous(size: UInt64, hugePageSize: UInt64? = nil) throws -> Int32 {
        let page = hugePageSize ?? 4096
        let length = Int((size + page - 1) / page * page)
        let huge = hugePageSize.map { Int32(truncatingIfNeeded: HugePages.mapFlags(pageSize: $0)) } ?? 0
        guard let address = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | huge, -1, 0), address != MAP_FAILED else {
            let e = errno
            if let hugePageSize, e == ENOMEM {
                throw SystemError("mmap of \(length) bytes of shared anonymous memory from the hugetlb pool (\(HugePages.shortage(bytes: UInt64(length), pageSize: hugePageSize)))", errno: e)
            }
            throw SystemError("mmap of \(length) bytes of shared anonymous memory", errno: e)
        }
        defer { munmap(address, length) }
        let start = UInt(bitPattern: address)
        let path = "/proc/self/map_files/\(String(start, radix: 16))-\(String(start + UInt(length), radix: 16))"
        return try open(path, flags: O_RDWR | O_CLOEXEC)
    }

    /// An anonymous memory file (memfd) of `size` bytes; with
    /// `allowSealing`, one that takes seals (without, it has F_SEAL_SEAL);
    /// with `hugePageSize`, one of the hugetlb pool (MFD_HUGETLB).
    public static func memfd(name: String, size: UInt64, allowSealing: Bool = false, hugePageSize: UInt64? = nil) throws -> Int32 {
        var flags: UInt64 = allowSealing ? 3 : 1 // MFD_CLOEXEC, MFD_ALLOW_SEALING
        if let hugePageSize { flags |= 4 | HugePages.sizeFlag(pageSize: hugePageSize) } // MFD_HUGETLB
        let fd = name.withCString { cr_syscall6(319, UInt64(UInt(bitPattern: $0)), flags, 0, 0, 0, 0) }
        if fd < 0 { throw SystemError("memfd_create \(name)") }
        if ftruncate(Int32(fd), off_t(size)) != 0 {
            let e = errno
            close(Int32(fd))
            throw SystemError("ftruncate of memfd \(name) to \(size)", errno: e)
        }
        return Int32(fd)
    }
}
