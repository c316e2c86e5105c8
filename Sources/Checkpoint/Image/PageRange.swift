/// A run of whole pages at one virtual address of a process.
public struct PageRange: Codable, Equatable, Hashable, Sendable {
    /// Images assume 4 KiB pages, which is what x86_64 and the supported
    /// kernels use for anonymous memory.
    public static let pageSize = 4096

    /// Page-aligned virtual address of the first page.
    public var address: UInt64
    public var pageCount: UInt32

    public init(address: UInt64, pageCount: UInt32) {
        self.address = address
        self.pageCount = pageCount
    }

    public var byteCount: Int { Int(pageCount) * PageRange.pageSize }

    /// One past the last byte, or nil when the range would wrap around the
    /// address space (only a damaged image can say so).
    public var endAddress: UInt64? {
        let (end, overflow) = address.addingReportingOverflow(UInt64(pageCount) * UInt64(PageRange.pageSize))
        return overflow ? nil : end
    }
}
