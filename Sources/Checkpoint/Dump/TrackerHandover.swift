import Ptrace

/// The write trackers an image hands on to the next image made on it
/// (a pre-dump, or a dump with --track-mem): one per process, either the
/// parent's, taken over, or a new one. Armed once the pages are read and
/// before the tree runs again, so that every later write counts.
struct TrackerHandover {
    private(set) var trackers: [WriteTracker] = []
    /// The parents' keepers whose trackers were protected again: their
    /// rounds belong to this image now, so they end with it, whether it
    /// is committed or not.
    private(set) var takenOver: [OutsideHolder] = []
    private(set) var trackedVMAs = 0
    /// Processes with VMAs another tracker has, for the summary.
    private(set) var notes: [String] = []

    /// Protects `vmas` with the parent's tracker when `inheritance` took
    /// it over, or with the one `open` makes in the frozen process.
    mutating func arm(_ inheritance: PageInheritance, vmas: [VMAImage], open: () throws -> WriteTracker) throws {
        let tracker: WriteTracker
        if let continued = inheritance.tracker, let holder = inheritance.parentTracker {
            takenOver.append(holder)
            tracker = continued
        } else {
            tracker = try open()
        }
        let protected = MemoryTracking.protect(tracker, vmas: vmas)
        trackedVMAs += protected.tracked
        if protected.heldElsewhere > 0 {
            let n = protected.heldElsewhere
            notes.append("pid \(tracker.pid): \(n) writable VMA\(n == 1 ? " is" : "s are") tracked already for another image "
                         + "(a pre-dump or a dump with --track-mem that this one is not made on), so the next image reads "
                         + "\(n == 1 ? "it" : "them") whole: make each image on the newest with --prev-images-dir, "
                         + "or end that image's crtool-keeper (crtool show names it)")
        }
        trackers.append(tracker)
    }

    /// Hands process `index`'s tracker to `keeper` and returns what the
    /// image records of the process's pages: its start time, the pages it
    /// takes from the parent, and where the tracker is held.
    func lineage(_ index: Int, pid: Int32, startTime: UInt64, inherited: [PageRange],
                 keeper: ExternalKeeper) throws -> PageLineage {
        let holder = try keeper.hold(trackers[index].descriptor, what: "the write tracker of pid \(pid)")
        try keeper.watch(pid, startTime: startTime, what: "pid \(pid), whose writes it tracks")
        return PageLineage(pid: pid, startTime: startTime, inherited: inherited, tracker: holder)
    }

    /// Ends the parents' keepers: their trackers are this image's now.
    func endTakenOver() {
        for holder in takenOver { _ = TakenBack.endKeeper(holder) }
    }
}
