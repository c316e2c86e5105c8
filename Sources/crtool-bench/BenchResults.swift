/// Everything measured, ready for the report.
struct BenchResults {
    var warmUpSeconds: Double
    var readv: ReadvProbe.Result
    var memcpyMiBps: Double
    /// A failure, reported as such, where this kernel has no userfaultfd.
    var placement: Result<PlacementProbe.Result, Error>
    var cases: [BenchCase]
    var loadBefore: String
    var loadAfter: String
}
