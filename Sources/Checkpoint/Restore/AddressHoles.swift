/// Finding unused address ranges for crtool's own temporary mappings in a
/// process being rebuilt: they must miss both what is mapped now and
/// everything the image will map.
struct AddressHoles {
    private var taken: [(UInt64, UInt64)]

    init(_ ranges: [(UInt64, UInt64)]) {
        taken = ranges.sorted { $0.0 < $1.0 }
    }

    mutating func reserve(_ start: UInt64, _ end: UInt64) {
        taken.append((start, end))
        taken.sort { $0.0 < $1.0 }
    }

    /// The lowest free range of `size` bytes at or above 4 GiB, below the
    /// usual stack area.
    func find(size: UInt64) -> UInt64? {
        var candidate: UInt64 = 0x1_0000_0000
        let limit: UInt64 = 0x7ff0_0000_0000
        for (start, end) in taken {
            if end <= candidate { continue }
            if start >= candidate + size { break }
            candidate = (end + 0xfff) & ~0xfff
        }
        return candidate + size <= limit ? candidate : nil
    }
}
