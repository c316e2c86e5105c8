/// The address space of a restore cut into contiguous lanes holding about
/// the same number of stored pages, one lane per worker.
///
/// Each lane gets its own userfaultfd and its own VMAs (registering part of
/// a VMA splits it), so workers filling different lanes share no uffd
/// context and no VMA lock. On one shared context two workers placing
/// single pages spend a third of their time bouncing its cache lines
/// between cores; scattered pages are where that shows.
struct AddressLanes {
    /// Lane k covers [cuts[k-1], cuts[k]); the first starts at 0 and the
    /// last runs to the top of the address space. Ascending, page-aligned.
    let cuts: [UInt64]

    var count: Int { cuts.count + 1 }

    init(cuts: [UInt64]) {
        self.cuts = cuts
    }

    /// Cuts `ranges` (stored pages, in any order) into `count` lanes of
    /// about equal page counts. Fewer lanes come out when there are fewer
    /// pages than lanes.
    init(balancing ranges: [PageRange], count: Int) {
        let sorted = ranges.filter { $0.pageCount > 0 }.sorted { $0.address < $1.address }
        let total = sorted.reduce(UInt64(0)) { $0 + UInt64($1.pageCount) }
        var cuts: [UInt64] = []
        var before: UInt64 = 0
        var lane: UInt64 = 1
        let lanes = UInt64(max(1, count))
        for range in sorted {
            let pages = UInt64(range.pageCount)
            // Cut inside this range wherever a lane's share runs out in it.
            while lane < lanes, total * lane / lanes < before + pages {
                let into = total * lane / lanes - before
                let cut = range.address + into * UInt64(PageRange.pageSize)
                // No cut leaves a lane without pages.
                if cut > (cuts.last ?? sorted[0].address) { cuts.append(cut) }
                lane += 1
            }
            before += pages
        }
        self.cuts = cuts
    }

    /// The lane holding `address`.
    func lane(of address: UInt64) -> Int {
        cuts.partitioningIndex { $0 > address }
    }

    /// `range` split at the cuts it crosses, each piece with its lane.
    func split(_ range: Range<UInt64>) -> [(range: Range<UInt64>, lane: Int)] {
        var pieces: [(range: Range<UInt64>, lane: Int)] = []
        var start = range.lowerBound
        var lane = self.lane(of: start)
        while start < range.upperBound {
            let end = lane < cuts.count ? min(cuts[lane], range.upperBound) : range.upperBound
            pieces.append((start..<end, lane))
            start = end
            lane += 1
        }
        return pieces
    }
}

/// Work items in one queue per lane: a worker takes from the front of its
/// own lane and, once that is empty, from the back of the fullest other
/// lane, so workers stay in their own lanes until the end.
struct LaneQueues {
    private var items: [[Int]]
    private var front: [Int]
    private var back: [Int]

    /// `lanes[i]` is the lane of item i.
    init(lanes: [Int], count: Int) {
        var items = [[Int]](repeating: [], count: max(1, count))
        for (item, lane) in lanes.enumerated() { items[min(lane, items.count - 1)].append(item) }
        self.items = items
        front = [Int](repeating: 0, count: items.count)
        back = items.map(\.count)
    }

    mutating func take(for worker: Int) -> Int? {
        let own = worker % items.count
        if front[own] < back[own] {
            defer { front[own] += 1 }
            return items[own][front[own]]
        }
        guard let fullest = items.indices.max(by: { back[$0] - front[$0] < back[$1] - front[$1] }),
              front[fullest] < back[fullest] else { return nil }
        back[fullest] -= 1
        return items[fullest][back[fullest]]
    }
}
