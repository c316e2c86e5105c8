import Foundation

/// Wall time per phase of a dump or restore, so --verbose can say where
/// the time went.
struct PhaseTimer {
    private var last = Date()
    private(set) var phases: [(name: String, seconds: Double)] = []

    /// Ends the phase called `name`; a name marked again (one phase per
    /// process of a tree) adds to its earlier time.
    mutating func mark(_ name: String) {
        let now = Date()
        let seconds = now.timeIntervalSince(last)
        if let index = phases.firstIndex(where: { $0.name == name }) {
            phases[index].seconds += seconds
        } else {
            phases.append((name, seconds))
        }
        last = now
    }
}
