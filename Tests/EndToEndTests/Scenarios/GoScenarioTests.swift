import Glibc
import XCTest

/// A Go HTTP server (fixtures/go/server.go, built with Debian's Go): the
/// runtime's own threads, its netpoller on epoll, goroutines preempted by
/// SIGURG, a collector kept busy by garbage, a table checked on every
/// request. After the restore the hit count and the ticks go on from
/// where they were, the collector keeps collecting, the table is intact,
/// the goroutines that sum the ticks agree with the ticker, and SIGUSR1
/// still reaches signal.Notify.
final class GoScenarioTests: EndToEndCase {
    static let goTool = "/usr/lib/go/bin/go"

    /// Builds fixtures/go/NAME.go into the scratch directory, with a build
    /// cache kept across runs (the standard library compiles once).
    private func build(_ name: String) throws -> String {
        try requirePrograms(Self.goTool, from: "Debian's golang-go")
        let output = scratch.newPath("go-\(name)")
        let built = try runCommand("/usr/bin/env", [
            "GOCACHE=/tmp/crtool-test-go-cache", "GOPATH=/tmp/crtool-test-go-path", "GOFLAGS=-mod=mod", "CGO_ENABLED=1",
            Self.goTool, "build", "-o", output, BuildProducts.packageRoot + "/fixtures/go/\(name).go",
        ], outputPrefix: scratch.newPath("go-build"), timeout: 300)
        guard built.succeeded else { throw HarnessError("go build: \(built)") }
        return output
    }

    func testGoServerCarriesOnAfterRestore() throws {
        let executable = try build("server")
        let port = try TestSocket.freeLoopbackPort()
        let server = try startProgram("go", executable, [String(port)])
        defer { try? stopTree(server.pid) }
        for n in 1...3 {
            XCTAssertEqual(try httpGet(port: port, path: "/before"), "hits \(n) table ok\n")
        }
        try server.waitFor("tick", atLeast: 10)
        let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(server.pid)/task").count) ?? 0
        XCTAssertGreaterThanOrEqual(threads, 3, "the Go runtime runs several threads")

        let (_, mark) = try roundTrip(server)
        for n in 4...6 {
            XCTAssertEqual(try httpGet(port: port, path: "/after"), "hits \(n) table ok\n")
        }
        try assertNextTick(server, after: mark)
        let collectionsBefore = try XCTUnwrap(collections(in: server, before: mark).last)
        try server.waitForMore("tick", 20, after: mark)
        let collectionsAfter = try XCTUnwrap(collections(in: server, from: mark).last)
        XCTAssertGreaterThan(collectionsAfter, collectionsBefore, "the collector runs after the restore")

        try server.signal(SIGUSR1)
        let state = try server.waitFor("the state", from: mark) { $0.hasPrefix("state ") }.line
        let fields = state.split(separator: " ").compactMap { Int($0) }
        XCTAssertEqual(fields.count, 3, state)
        if fields.count == 3 {
            XCTAssertLessThanOrEqual(abs(fields[0] - fields[1]), 1, "the summing goroutines kept up with every tick: \(state)")
            XCTAssertEqual(fields[2], 6, state)
        }
        assertNoFailures(server)
    }

    /// A Go program that re-execs itself from a goroutine on another
    /// thread than the main one, over and over, as upgraders of a running
    /// server do. The exec kills the runtime's other threads and waits
    /// until they are reaped, which, for threads crtool traces, only
    /// crtool can do: a dump caught there hung for good, about one in
    /// fifty. Forty dumps with --leave-running, then one for good: each
    /// must finish, and the restored program goes on to later
    /// generations, every one checking its tables.
    func testGoProgramReexecingFromAThreadIsDumpedAndRestored() throws {
        let executable = try build("reexec")
        let program = try startProgram("go-reexec", executable, [])
        defer { try? stopTree(program.pid) }
        try program.waitFor("generation", atLeast: 100, timeout: 30)
        for _ in 0..<40 {
            _ = try checkpoint(program, options: ["--leave-running"], timeout: 30)
        }
        let image = try checkpoint(program, timeout: 30)

        let mark = program.lineCount
        let last = try XCTUnwrap(program.numbers("generation").last)
        try restore(image, as: program)
        try program.waitFor("generation", atLeast: last + 200, from: mark, timeout: 30)
        assertNoFailures(program)
    }

    /// The "gc G" counts of the tick lines.
    private func collections(in server: Fixture, from start: Int = 0, before end: Int? = nil) -> [Int] {
        let lines = server.log.lines()
        let range = start..<min(end ?? lines.count, lines.count)
        return lines[range].filter { $0.hasPrefix("tick ") }.compactMap { line in
            let words = line.split(separator: " ")
            return words.firstIndex(of: "gc").flatMap { $0 + 1 < words.count ? Int(words[$0 + 1]) : nil }
        }
    }
}
