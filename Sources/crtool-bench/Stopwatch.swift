import Dispatch

/// Wall time on the monotonic clock, so a clock adjustment during a long
/// run cannot shorten or stretch a measurement.
struct Stopwatch {
    private let start = DispatchTime.now().uptimeNanoseconds

    var seconds: Double {
        Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// Runs `body` and returns its result with the seconds it took.
    static func time<T>(_ body: () throws -> T) rethrows -> (value: T, seconds: Double) {
        let watch = Stopwatch()
        let value = try body()
        return (value, watch.seconds)
    }
}
