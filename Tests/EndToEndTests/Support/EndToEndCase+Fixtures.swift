import Glibc
import XCTest

/// Starting the sample workloads and judging them.
extension EndToEndCase {
    /// Starts fixture-NAME and returns once it printed "ready". `wrapper`:
    /// a program that execs the fixture (`setarch -R`), keeping its pid.
    func startFixture(
        _ name: String, _ arguments: [String] = [], stdin: StandardInput = .devNull, under wrapper: [String] = []
    ) throws -> Fixture {
        let executable = BuildProducts.fixture(name)
        try BuildProducts.requireExecutable(executable)
        guard let program = wrapper.first else { return try launch(name, executable, arguments, stdin: stdin) { $0 == "ready" } }
        return try launch(name, program, wrapper.dropFirst() + [executable] + arguments, stdin: stdin) { $0 == "ready" }
    }

    /// The Python dict holder, under a real python3 interpreter.
    func startPythonFixture() throws -> Fixture {
        let python = try BuildProducts.requirePython3()
        return try launch("python", python, [BuildProducts.pythonFixture], stdin: .devNull) {
            $0.hasPrefix("ready ")
        }
    }

    private func launch(
        _ name: String, _ executable: String, _ arguments: [String], stdin: StandardInput,
        isReady: (String) -> Bool
    ) throws -> Fixture {
        let stdout = scratch.newPath("\(name).stdout")
        let stderr = scratch.newPath("\(name).stderr")
        let pid = try spawnProcess(executable, arguments, stdin: stdin, stdout: stdout, stderr: stderr)
        let fixture = Fixture(name: name, pid: pid, log: LogFile(path: stdout), stderrPath: stderr)
        try fixture.waitFor("ready", timeout: 30, where: isReady)
        return fixture
    }

    func assertNoFailures(_ fixture: Fixture, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(fixture.log.failures(), [], "\(fixture.name) reported failures\n\(fixture.log.tail())",
                       file: file, line: line)
    }

    /// Running, not stopped, not traced: what a process crtool let go of, or
    /// never should have touched, must look like.
    func assertRunningFree(_ fixture: Fixture, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(ProcessTable.isAlive(fixture.pid), "\(fixture.name) is not running", file: file, line: line)
        XCTAssertFalse(ProcessTable.isStopped(fixture.pid), "\(fixture.name) is stopped", file: file, line: line)
        XCTAssertEqual(ProcessTable.tracer(of: fixture.pid), 0, "\(fixture.name) is still traced",
                       file: file, line: line)
    }

    /// Numbered lines that must count up by one over the whole log.
    func assertSequence(
        _ fixture: Fixture, _ prefix: String, startingAt first: Int? = nil,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let values = fixture.numbers(prefix)
        if let problem = LogLines.breakInSequence(values, startingAt: first) {
            XCTFail("\"\(prefix)\" lines of \(fixture.name): \(problem)\n\(fixture.log.tail(25))",
                    file: file, line: line)
        }
    }
}
