import Foundation

/// A fixture's stdout file, read as whole lines. The fixtures write each
/// line with one write(2), so only the last line can be incomplete, and it
/// is left out until its newline arrives.
struct LineLog {
    let path: String

    func lines() -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        var lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.removeLast()
        return lines
    }

    /// Waits for the first line at index `start` or later that matches.
    /// Gives up at once when the fixture reports a failure or `pid` stops
    /// running: waiting out the timeout would only hide why.
    @discardableResult
    func waitFor(_ what: String, from start: Int = 0, pid: pid_t, timeout: Double,
                 where matches: (String) -> Bool) throws -> (index: Int, line: String) {
        let watch = Stopwatch()
        while true {
            try Interruption.check()
            // Liveness first: once the process is seen gone, all it wrote is in the file.
            let running = ChildReaper.isRunning(pid)
            let all = lines()
            if start < all.count, let i = all[start...].firstIndex(where: matches) { return (i, all[i]) }
            if let failure = all.first(where: { $0.hasPrefix("FAIL:") }) {
                throw BenchError("pid \(pid) reported \(failure)")
            }
            if !running { throw BenchError("pid \(pid) ended while waiting for \(what); last lines: \(all.suffix(5))") }
            if watch.seconds > timeout {
                throw BenchError("no \(what) from pid \(pid) after \(Int(timeout)) s; last lines: \(all.suffix(5))")
            }
            usleep(5_000)
        }
    }
}
