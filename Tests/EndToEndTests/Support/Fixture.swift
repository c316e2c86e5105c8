import Glibc

/// A running sample workload and its log. The same value keeps describing
/// the process after a restore, because the restore keeps its PID and its
/// stdout file.
struct Fixture {
    let name: String
    let pid: pid_t
    let log: LogFile
    let stderrPath: String

    /// Lines so far: the mark to wait from for what happens next.
    var lineCount: Int { log.lines().count }

    /// Waits for a matching line at `from` or later; fails fast if the
    /// fixture reports FAIL or dies, with its stdout and stderr in the error.
    @discardableResult
    func waitFor(
        _ what: String, from start: Int = 0, timeout: Double = 15,
        where matches: (String) -> Bool
    ) throws -> (index: Int, line: String) {
        do {
            return try log.waitForLine(what, from: start, timeout: timeout, process: pid, where: matches)
        } catch let error as HarnessError {
            throw HarnessError("\(name) (pid \(pid)): \(error.description)\(stderrTail())")
        }
    }

    @discardableResult
    func waitFor(line exact: String, from start: Int = 0, timeout: Double = 15) throws -> Int {
        try waitFor("\"\(exact)\"", from: start, timeout: timeout) { $0 == exact }.index
    }

    /// Waits for a line "<prefix> <n> …" with n >= value; returns n.
    @discardableResult
    func waitFor(_ prefix: String, atLeast value: Int, from start: Int = 0, timeout: Double = 15) throws -> Int {
        let found = try waitFor("\"\(prefix) <n>\" with n >= \(value)", from: start, timeout: timeout) {
            (LogLines.number(in: $0, after: prefix) ?? Int.min) >= value
        }
        return LogLines.number(in: found.line, after: prefix)!
    }

    /// Waits until the lines "<prefix> <n>" after `mark` count `more` past
    /// the last one before it (a process carrying on after a restore).
    func waitForMore(_ prefix: String, _ more: Int, after mark: Int, timeout: Double = 15) throws {
        guard let last = numbers(prefix, before: mark).last else {
            throw HarnessError("\(name) wrote no \"\(prefix) <n>\" line before line \(mark)")
        }
        try waitFor(prefix, atLeast: last + more, from: mark, timeout: timeout)
    }

    /// The numbers of the lines "<prefix> <n> …" in [start, end), in order.
    func numbers(_ prefix: String, from start: Int = 0, before end: Int? = nil) -> [Int] {
        let all = log.lines()
        let upper = min(end ?? all.count, all.count)
        return LogLines.numbers(in: Array(all[min(start, upper)..<upper]), after: prefix)
    }

    /// The words of the last line "<prefix> …": a fixture that reports
    /// its state on each tick, read as the test's latest view of it.
    func lastWords(_ prefix: String) throws -> [String] {
        guard let line = log.lines().last(where: { $0.hasPrefix(prefix + " ") }) else {
            throw HarnessError("\(name) wrote no \"\(prefix) …\" line")
        }
        return line.split(separator: " ").map(String.init)
    }

    func signal(_ signal: Int32) throws {
        guard Glibc.kill(pid, signal) == 0 else {
            throw HarnessError("kill(\(pid), \(signal)): \(errnoText())")
        }
    }

    func stderrTail() -> String {
        let text = readTextFile(stderrPath) ?? ""
        return text.isEmpty ? "" : "\n--- \(name) stderr:\n" + text.suffix(2000)
    }
}
