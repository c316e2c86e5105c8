extension RandomAccessCollection {
    /// The index of the first element for which `belongsAfter` is true, in
    /// a collection where every such element follows every other one
    /// (`endIndex` if there is none). Address ranges sorted by start are
    /// looked up this way: a process can have thousands of them and a
    /// restore looks one up for every run of pages.
    func partitioningIndex(where belongsAfter: (Element) -> Bool) -> Index {
        var low = startIndex
        var count = self.count
        while count > 0 {
            let half = count / 2
            let mid = index(low, offsetBy: half)
            if belongsAfter(self[mid]) {
                count = half
            } else {
                low = index(after: mid)
                count -= half + 1
            }
        }
        return low
    }
}
