@testable import Checkpoint
import XCTest

/// The stream header comes from journald's state file and goes back to
/// journald as its first lines; an image cannot make it say more.
final class JournalStreamHeaderTests: XCTestCase {
    private let stateFile = """
        # This is private data. Do not parse
        PRIORITY=3
        LEVEL_PREFIX=0
        FORWARD_TO_SYSLOG=1
        FORWARD_TO_KMSG=0
        FORWARD_TO_CONSOLE=1
        STREAM_ID=c505c019d5f54f64aeff0de4bf2cdd63
        IDENTIFIER=my\\x20app\\\\x
        UNIT=web\\x2dfront.service

        """

    func testTheStateFileGivesTheHeaderJournaldReadFirst() {
        let stream = JournalStreams.parse(stateFile, socketPath: JournalStreams.socketPath)
        XCTAssertEqual(stream, JournalStream(socketPath: "/run/systemd/journal/stdout", identifier: "my app\\x", unit: "web-front.service",
                                             priority: 3, levelPrefix: false, forwardToSyslog: true, forwardToKmsg: false,
                                             forwardToConsole: true))
        XCTAssertEqual(stream.header, "my app\\x\nweb-front.service\n3\n0\n1\n0\n1\n")
        XCTAssertNil(stream.invalidField.map { "\($0.field): \($0.reason)" })
    }

    func testAStreamWithoutIdentifierOrUnitGetsJournaldsDefaults() {
        let stream = JournalStreams.parse("PRIORITY=6\nSTREAM_ID=00\n", socketPath: JournalStreams.socketPath)
        XCTAssertEqual(stream.header, "\n\n6\n1\n0\n0\n0\n")
    }

    func testEscapesComeOutAsTheBytesTheyStandFor() {
        XCTAssertEqual(JournalStreams.unescape("a\\tb\\nc\\\\d\\xc3\\xa9"), "a\tb\nc\\dé")
        XCTAssertEqual(JournalStreams.unescape("trailing\\"), "trailing\\")
    }

    func testHostileFieldsAreNamed() {
        let good = JournalStream(socketPath: "/run/systemd/journal/stdout", identifier: "app")
        var bad = good
        bad.identifier = "app\nsshd.service"
        XCTAssertEqual(bad.invalidField?.field, "identifier")
        bad = good
        bad.unit = "a\nb"
        XCTAssertEqual(bad.invalidField?.field, "unit")
        bad = good
        bad.priority = 8
        XCTAssertEqual(bad.invalidField?.field, "priority")
        bad = good
        bad.socketPath = "run/x"
        XCTAssertEqual(bad.invalidField?.field, "socketPath")
    }
}
