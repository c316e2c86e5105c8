import Checkpoint
import Foundation
import XCTest

/// An image's established connection is checked field by field before
/// any process is made: each hostile value is named.
final class TCPConnectionImageTests: XCTestCase {
    private func connection() -> TCPConnectionImage {
        TCPConnectionImage(remote: InetEndpoint(host: "127.0.0.1", port: 80), sendSequence: 1000, receiveSequence: 2000,
                           sendQueue: Data(repeating: 7, count: 10), unsentBytes: 4, receiveQueue: Data(), mss: 65483,
                           sack: true, timestamps: true, sendWindowScale: 7, receiveWindowScale: 7, timestamp: 5,
                           window: [1, 2, 3, 4, 5])
    }

    func testAConnectionAsDumpedIsValid() {
        XCTAssertNil(connection().invalidField.map { "\($0.field): \($0.reason)" })
    }

    func testEachHostileFieldIsNamed() {
        var c = connection()
        c.window = [1, 2, 3, 4]
        XCTAssertEqual(c.invalidField?.field, "window")

        c = connection()
        c.unsentBytes = 11
        XCTAssertEqual(c.invalidField?.field, "unsentBytes")

        c = connection()
        c.receiveWindowScale = nil
        XCTAssertEqual(c.invalidField?.field, "sendWindowScale")

        c = connection()
        c.sendWindowScale = 15
        XCTAssertEqual(c.invalidField?.field, "sendWindowScale")

        c = connection()
        c.state = "TIME_WAIT"
        XCTAssertEqual(c.invalidField?.field, "state")

        // The table name reaches nft: nothing but what crtool makes passes.
        c = connection()
        c.networkLock = "crtool-1-2; flush ruleset"
        XCTAssertEqual(c.invalidField?.field, "networkLock")
    }

    func testAConnectionBeingMadeNamesAHostileTable() {
        var c = TCPConnectingImage(remote: InetEndpoint(host: "127.0.0.1", port: 5432), initialSequence: 7, networkLock: "crtool-1-2")
        XCTAssertNil(c.invalidField?.field)
        c.networkLock = "crtool-1-2; flush ruleset"
        XCTAssertEqual(c.invalidField?.field, "networkLock")
    }

    func testTableNamesAreTheOnesCrtoolMakes() {
        XCTAssertTrue(TCPConnectionImage.isTableName("crtool-4242-1795377235571"))
        for hostile in ["", "crtool 1", "crtool-1\nflush ruleset", "a;b", String(repeating: "x", count: 65)] {
            XCTAssertFalse(TCPConnectionImage.isTableName(hostile), hostile)
        }
    }

    func testHalfClosedStatesTellWhichSideEnded() {
        var c = connection()
        XCTAssertFalse(c.peerFinished || c.finishedSending)
        c.state = "CLOSE_WAIT"
        XCTAssertTrue(c.peerFinished && !c.finishedSending)
        XCTAssertNil(c.invalidField?.field)
        c.state = "FIN_WAIT2"
        XCTAssertTrue(!c.peerFinished && c.finishedSending)
        c.state = "LAST_ACK"
        XCTAssertTrue(c.peerFinished && c.finishedSending)
    }
}
