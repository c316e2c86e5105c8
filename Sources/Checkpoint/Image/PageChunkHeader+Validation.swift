/// The rules every chunk header obeys, shared by the writer (which refuses
/// to produce a chunk a reader would reject) and the reader.
extension PageChunkHeader {
    /// The first rule broken, as (field, reason), or nil when the header is sound.
    func ruleViolation() -> (field: String, reason: String)? {
        if pid <= 0 {
            return ("pid", "\(pid) is not a valid process id")
        }
        if ranges.isEmpty || ranges.count > Self.maxRanges {
            return ("rangeCount", "\(ranges.count) is outside 1...\(Self.maxRanges)")
        }
        if rawSize == 0 || rawSize > UInt64(Self.maxRawSize) {
            return ("rawSize", "\(rawSize) is outside 1...\(Self.maxRawSize)")
        }
        // A compressed chunk that did not shrink is always stored raw, so a
        // stored size at or above the raw size can only come from damage.
        if codec == .none, storedSize != rawSize {
            return ("storedSize", "\(storedSize) differs from rawSize \(rawSize) for a chunk stored raw")
        }
        if codec != .none, storedSize == 0 || storedSize >= rawSize {
            return ("storedSize", "\(storedSize) is not below rawSize \(rawSize) for a \(codec.rawValue) chunk")
        }
        var pages: UInt64 = 0
        for (index, range) in ranges.enumerated() {
            if range.address % UInt64(PageRange.pageSize) != 0 {
                return ("ranges[\(index)].address", "0x\(String(range.address, radix: 16)) is not page-aligned")
            }
            if range.pageCount == 0 {
                return ("ranges[\(index)].pageCount", "is 0")
            }
            if range.endAddress == nil {
                return ("ranges[\(index)]", "0x\(String(range.address, radix: 16)) + \(range.pageCount) pages wraps around")
            }
            pages += UInt64(range.pageCount)
        }
        if pages * UInt64(PageRange.pageSize) != rawSize {
            return ("rawSize", "\(rawSize) differs from the ranges' \(pages) pages × \(PageRange.pageSize)")
        }
        return nil
    }
}
