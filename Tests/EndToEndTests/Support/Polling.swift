import Glibc

/// Monotonic seconds, so a test's timeouts are not bent by clock changes.
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func sleepSeconds(_ seconds: Double) {
    var request = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
    var left = timespec()
    while nanosleep(&request, &left) != 0 && errno == EINTR {
        request = left
    }
}

/// Checks `condition` until it holds or `timeout` seconds pass; true if it
/// held. Everything in these tests that waits for another process waits here,
/// never by a fixed sleep.
@discardableResult
func poll(timeout: Double, every interval: Double = 0.01, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = monotonicSeconds() + timeout
    while true {
        if try condition() { return true }
        if monotonicSeconds() >= deadline { return false }
        sleepSeconds(interval)
    }
}
