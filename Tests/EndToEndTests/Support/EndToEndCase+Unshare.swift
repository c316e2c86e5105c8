import Glibc
import Ptrace
import XCTest

/// Programs started by util-linux's unshare --fork, which stays their
/// parent and reaps them.
extension EndToEndCase {
    /// The fixture unshare forked as the first process of its namespace.
    func firstProcess(under unshare: Fixture, named name: String) throws -> Fixture {
        let first = try XCTUnwrap(ProcessTable.children(of: unshare.pid).first)
        XCTAssertEqual(try ProcStatus.read(pid: first).namespaceIDs.last, 1)
        return Fixture(name: name, pid: first, log: unshare.log, stderrPath: unshare.stderrPath)
    }

    /// As `checkpoint`, for a process unshare reaps.
    func checkpointOfAChildOfUnshare(_ program: Fixture) throws -> String {
        let dir = try scratch.newDirectory("image")
        let result = try crtool(["dump", "-t", "\(program.pid)", "-D", dir])
        guard result.succeeded else { throw HarnessError("dump of \(program.name) failed: \(result)\n\(program.log.tail())") }
        XCTAssertTrue(poll(timeout: 10) { !ProcessTable.isAlive(program.pid) }, "\(program.name) still runs after its dump")
        try waitUntilFree(program.pid)
        return dir
    }
}
