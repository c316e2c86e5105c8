/// Everything measured, ready for the report.
struct BenchResults {
    var warmUpSeconds: Double
    var readv: ReadvProbe.Result
    var memcpyMiBps: Double
    var placement: PlacementProbe.Result
    var cases: [BenchCase]
    var loadBefore: String
    var loadAfter: String
}
