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
        trackedVMAs += MemoryTracking.protect(tracker, vmas: vmas)
        trackers.append(tracker)
    }

    /// Hands process `index`'s tracker to `keeper` and returns what the
    /// image records of the process's pages: its start time, the pages it
    /// takes from the parent, and where the tracker is held.
    func lineage(_ index: Int, pid: Int32, startTime: UInt64, inherited: [PageRange],
                 keeper: ExternalKeeper) throws -> PageLineage {
        let holder = try keeper.hold(trackers[index].descriptor, what: "the write tracker of pid \(pid)")
        return PageLineage(pid: pid, startTime: startTime, inherited: inherited, tracker: holder)
    }

    /// Ends the parents' keepers: their trackers are this image's now.
    func endTakenOver() {
        for holder in takenOver { _ = TakenBack.endKeeper(holder) }
    }
}
