import Glibc

/// A fixture's stdout, read as whole lines. The fixtures write each line
/// with one write(2), so only a line the process has not finished yet can be
/// partial, and that one is left out until its newline arrives.
struct LogFile {
    let path: String

    func lines() -> [String] {
        guard let text = readTextFile(path) else { return [] }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.removeLast()   // after the last newline: empty, or a line still being written
        return lines
    }

    func tail(_ count: Int = 15) -> String {
        let all = lines()
        let shown = all.suffix(count)
        let skipped = all.count - shown.count
        return (skipped > 0 ? "  … (\(skipped) earlier lines)\n" : "")
            + shown.map { "  | " + $0 }.joined(separator: "\n")
    }

    func failures() -> [String] {
        lines().filter(Self.reportsFailure)
    }

    /// A line with "FAIL:" in it: on its own, or after a tick's number
    /// ("tick 7 FAIL: …"), as the programs that print a line per tick do.
    static func reportsFailure(_ line: String) -> Bool {
        line.contains("FAIL:")
    }

    /// Waits for the first line at index `from` or later that matches.
    /// Gives up early, with the log's tail in the error, when the fixture
    /// reports a failure or `process` is no longer alive: waiting out the
    /// timeout would only hide the reason.
    @discardableResult
    func waitForLine(
        _ what: String,
        from start: Int = 0,
        timeout: Double,
        process: pid_t? = nil,
        where matches: (String) -> Bool
    ) throws -> (index: Int, line: String) {
        var found: (index: Int, line: String)?
        var problem: String?
        poll(timeout: timeout, every: 0.02) {
            // Liveness first: once the process is seen dead, every line it
            // wrote is already in the file read next.
            let dead = process.map { !ProcessTable.isAlive($0) } ?? false
            let all = lines()
            if let failure = all.first(where: Self.reportsFailure) {
                problem = "the fixture failed (\(failure))"
            } else if start < all.count, let i = all[start...].firstIndex(where: matches) {
                found = (i, all[i])
            } else if dead {
                problem = "process \(process!) is gone"
            }
            return found != nil || problem != nil
        }
        if let found { return found }
        let processes = problem == nil ? process.map { "\n--- the process and its children now:\n" + ProcessTable.describeTree($0) } ?? "" : ""
        throw HarnessError(
            "waiting for \(what) in \(path) (from line \(start)): \(problem ?? "timed out after \(timeout) s")\n\(tail())\(processes)")
    }

    @discardableResult
    func waitForLine(_ exact: String, from start: Int = 0, timeout: Double, process: pid_t? = nil) throws -> Int {
        try waitForLine("\"\(exact)\"", from: start, timeout: timeout, process: process) { $0 == exact }.index
    }
}
