/// The --verbose line that says where a dump's or restore's wall time went.
enum PhaseLine {
    static func format(_ phases: [(name: String, seconds: Double)]) -> String {
        "phases: " + phases.map { "\($0.name) \(String(format: "%.3f s", $0.seconds))" }.joined(separator: ", ")
    }
}
