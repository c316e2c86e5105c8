/// The numbers a process's descriptor table holds, to know where its next
/// new descriptor lands: the kernel always gives the lowest free number.
struct DescriptorNumbers {
    private var taken: Set<Int32>
    /// No number below this one is free.
    private var lowestCandidate: Int32 = 0

    init(_ taken: [Int32]) { self.taken = Set(taken) }

    func holds(_ fd: Int32) -> Bool { taken.contains(fd) }

    /// The number the next new descriptor gets, taken from now on.
    mutating func next() -> Int32 {
        while taken.contains(lowestCandidate) { lowestCandidate += 1 }
        taken.insert(lowestCandidate)
        return lowestCandidate
    }

    /// The number F_DUPFD with minimum `floor` gives, taken from now on.
    mutating func next(atOrAbove floor: Int32) -> Int32 {
        var n = max(floor, 0)
        while taken.contains(n) { n += 1 }
        taken.insert(n)
        return n
    }

    mutating func take(_ fd: Int32) { taken.insert(fd) }

    mutating func free(_ fd: Int32) {
        taken.remove(fd)
        lowestCandidate = min(lowestCandidate, fd)
    }
}
