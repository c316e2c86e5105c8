import CSupport
import Glibc

/// /proc/PID/pagemap: one 64-bit entry per virtual page, telling whether
/// the page is present or swapped and whether it is file/shared memory.
/// The dump reads it to copy only pages that exist.
public final class Pagemap {
    public let pid: Int32
    private let fd: Int32

    public static let present: UInt64 = 1 << 63
    public static let swapped: UInt64 = 1 << 62
    public static let fileOrSharedAnon: UInt64 = 1 << 61
    public static let exclusive: UInt64 = 1 << 56

    public init(pid: Int32) throws {
        self.pid = pid
        fd = open("/proc/\(pid)/pagemap", O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw SystemError("open /proc/\(pid)/pagemap", pid: pid) }
    }

    deinit { close(fd) }

    /// The entries for `count` pages starting at `address`.
    public func entries(at address: UInt64, count: Int) throws -> [UInt64] {
        var out = [UInt64](repeating: 0, count: count)
        let bytes = count * 8
        var done = 0
        try out.withUnsafeMutableBytes { b in
            while done < bytes {
                let n = pread(fd, b.baseAddress! + done, bytes - done, off_t((address / 4096) * 8) + off_t(done))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw SystemError("read /proc/\(pid)/pagemap at 0x\(String(address, radix: 16))", pid: pid)
                }
                if n == 0 { break }
                done += n
            }
        }
        return out
    }

    /// The runs of `range` whose pages are present and were not written
    /// since a write tracker (`WriteTracker`) last protected them, nor
    /// read in as the shared zero page (PAGEMAP_SCAN). `range` is one
    /// mapping: when no tracker covers it (never did, or the mapping was
    /// made since, or moved) every page counts as written, and so does
    /// every page of a mapping the program write-protects with its own
    /// userfaultfd, whose marks say nothing of what it wrote.
    public func unwritten(in range: Range<UInt64>) throws -> [Range<UInt64>] {
        try scan(range, cr_pagemap_unwritten, unanswered: [EPERM]) ?? []
    }

    /// The runs of `range` mapped by whole huge pages: in anonymous memory,
    /// transparent huge pages (2 MiB, one page-middle-directory entry each).
    /// Empty on a kernel without PAGEMAP_SCAN, which cannot tell.
    public func hugeRuns(in range: Range<UInt64>) throws -> [Range<UInt64>] {
        try scan(range, cr_pagemap_huge, unanswered: [EINVAL, ENOTTY]) ?? []
    }

    private typealias Scan = (Int32, UInt64, UInt64, UnsafeMutablePointer<cr_page_region>?, UInt64, UnsafeMutablePointer<UInt64>?) -> Int

    /// Runs one PAGEMAP_SCAN query over `range` in as many calls as its
    /// answer takes; nil when the kernel answers with one of `unanswered`.
    private func scan(_ range: Range<UInt64>, _ query: Scan, unanswered: Set<Int32>) throws -> [Range<UInt64>]? {
        var found: [Range<UInt64>] = []
        var regions = [cr_page_region](repeating: cr_page_region(), count: 512)
        var start = range.lowerBound
        while start < range.upperBound {
            var walkEnd: UInt64 = 0
            let n = regions.withUnsafeMutableBufferPointer {
                query(fd, start, range.upperBound, $0.baseAddress, UInt64($0.count), &walkEnd)
            }
            if n == -Int(EINTR) { continue }
            if n < 0, unanswered.contains(Int32(-n)) { return nil }
            if n < 0 {
                throw SystemError("PAGEMAP_SCAN of /proc/\(pid)/pagemap at 0x\(String(start, radix: 16))", pid: pid, errno: Int32(-n))
            }
            for r in regions[0..<n] {
                // Adjacent regions the kernel reported apart are one run.
                if let last = found.last, last.upperBound == r.start {
                    found[found.count - 1] = last.lowerBound..<r.end
                } else {
                    found.append(r.start..<r.end)
                }
            }
            guard walkEnd > start else { break }
            start = walkEnd
        }
        return found
    }
}
