/// Sets of pages written as runs (`PageRange`), sorted by address and
/// merged, for what an incremental image takes from its parents.
public enum PageRanges {
    /// Sorted, with overlapping and touching runs merged into one (up to
    /// the most pages a run can count; a longer stretch stays in several
    /// runs that touch). Runs that wrap around the address space, which
    /// only a damaged image has, are cut at its end.
    public static func normalized(_ runs: [PageRange]) -> [PageRange] {
        var out: [PageRange] = []
        let sorted = runs.filter { $0.pageCount > 0 && $0.address % UInt64(PageRange.pageSize) == 0 }.sorted { $0.address < $1.address }
        for r in sorted {
            let rEnd = r.endAddress ?? lastPage
            guard let last = out.last, let lastEnd = last.endAddress, r.address <= lastEnd else {
                out += Self.runs(r.address..<rEnd)
                continue
            }
            guard rEnd > lastEnd else { continue }
            out.removeLast()
            out += Self.runs(last.address..<rEnd)
        }
        return out
    }

    /// The start of the last page of the address space.
    private static let lastPage = UInt64.max - UInt64(PageRange.pageSize) + 1

    /// The runs `addresses` (page-aligned) covers, each at most
    /// UInt32.max pages.
    public static func runs(_ addresses: Range<UInt64>) -> [PageRange] {
        var out: [PageRange] = []
        var start = addresses.lowerBound
        let most = UInt64(UInt32.max) * UInt64(PageRange.pageSize)
        while start < addresses.upperBound {
            let end = addresses.upperBound - start > most ? start + most : addresses.upperBound
            out.append(run(start..<end))
            start = end
        }
        return out
    }

    /// The pages in both; `a` and `b` normalized.
    public static func intersection(_ a: [PageRange], _ b: [PageRange]) -> [PageRange] {
        var out: [PageRange] = []
        var i = 0, j = 0
        while i < a.count && j < b.count {
            let aEnd = a[i].endAddress ?? .max, bEnd = b[j].endAddress ?? .max
            let start = max(a[i].address, b[j].address), end = min(aEnd, bEnd)
            if start < end { out.append(run(start..<end)) }
            if aEnd < bEnd { i += 1 } else { j += 1 }
        }
        return out
    }

    /// The pages of `a` not in `b`; both normalized.
    public static func subtracting(_ a: [PageRange], _ b: [PageRange]) -> [PageRange] {
        var out: [PageRange] = []
        var j = 0
        for r in a {
            var start = r.address
            let end = r.endAddress ?? .max
            while j < b.count, (b[j].endAddress ?? .max) <= start { j += 1 }
            var k = j
            while start < end, k < b.count, b[k].address < end {
                if b[k].address > start { out.append(run(start..<b[k].address)) }
                start = max(start, b[k].endAddress ?? .max)
                k += 1
            }
            if start < end { out.append(run(start..<end)) }
        }
        return out
    }

    /// The parts of each of `runs` (in any order) that lie in `set`
    /// (normalized), run by run: a binary search of `set` per run, for a
    /// few runs against a large set.
    public static func clipped(_ runs: [PageRange], to set: [PageRange]) -> [PageRange] {
        var out: [PageRange] = []
        for r in runs {
            let end = r.endAddress ?? .max
            var i = set.partitioningIndex { ($0.endAddress ?? .max) > r.address }
            while i < set.count, set[i].address < end {
                let start = max(r.address, set[i].address), stop = min(end, set[i].endAddress ?? .max)
                if start < stop { out.append(run(start..<stop)) }
                i += 1
            }
        }
        return out
    }

    public static func pageCount(_ runs: [PageRange]) -> UInt64 {
        runs.reduce(0) { $0 + UInt64($1.pageCount) }
    }

    /// The run of whole pages `addresses` covers: at most UInt32.max
    /// pages (`runs` cuts longer stretches).
    public static func run(_ addresses: Range<UInt64>) -> PageRange {
        PageRange(address: addresses.lowerBound, pageCount: UInt32(addresses.count / PageRange.pageSize))
    }
}
