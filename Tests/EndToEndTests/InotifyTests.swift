import Glibc
import XCTest

/// An inotify watcher keeps its watches, with the watch descriptor numbers
/// the program holds (1, 3 and 4: the removed watch 2 leaves a gap), and
/// sees no event from the restore's own bookkeeping.
final class InotifyTests: EndToEndCase {
    func testWatchesKeepTheirNumbersAcrossRestore() throws {
        let dir = try scratch.newDirectory("watched")
        let fixture = try startFixture("inotify", [dir])
        let watches = fixture.log.lines().filter { $0.hasPrefix("watch ") }
        XCTAssertEqual(watches, ["watch a 1", "watch c 3", "watch dir 4"])

        try append("before\n", to: dir + "/a")
        try fixture.waitFor(line: "event 1 a modify")

        let (_, mark) = try roundTrip(fixture)
        try append("after\n", to: dir + "/c")
        try fixture.waitFor(line: "event 3 c modify", from: mark)
        try writeWholeFile(dir + "/fresh", [])
        try fixture.waitFor(line: "event 4 dir create fresh", from: mark)
        try append("again\n", to: dir + "/a")
        try fixture.waitFor(line: "event 1 a modify", from: mark)
        XCTAssertEqual(chmod(dir + "/c", 0o600), 0)
        try fixture.waitFor(line: "event 3 c attrib", from: mark)

        let last = fixture.numbers("tick").last ?? 0
        try fixture.waitFor("tick", atLeast: last + 3, from: mark)
        assertSequence(fixture, "tick", startingAt: 1)
        assertNoFailures(fixture)
        // Nothing touched b, which the fixture no longer watches.
        XCTAssertFalse(fixture.log.lines().contains { $0.hasPrefix("event 2 ") })
    }

    private func append(_ text: String, to path: String) throws {
        let fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard fd >= 0 else { throw HarnessError("open \(path): \(errnoText())") }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        guard write(fd, bytes, bytes.count) == bytes.count else { throw HarnessError("write \(path): \(errnoText())") }
    }
}
