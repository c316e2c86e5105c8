import Foundation

/// Wall time per phase of a dump or restore, so --verbose can say where
/// the time went.
struct PhaseTimer {
    private var last = Date()
    private(set) var phases: [(name: String, seconds: Double)] = []

    mutating func mark(_ name: String) {
        let now = Date()
        phases.append((name, now.timeIntervalSince(last)))
        last = now
    }
}
