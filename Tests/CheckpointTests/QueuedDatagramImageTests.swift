@testable import Checkpoint
import Foundation
import XCTest

/// A UDP queue read from an image is checked before anything is sent: a
/// datagram larger than UDP carries, or an address that is none, is named
/// by its field.
final class QueuedDatagramImageTests: XCTestCase {
    private func datagram(from host: String = "127.0.0.2", to destination: String? = "127.0.0.1", bytes: Int = 10) -> QueuedDatagramImage {
        QueuedDatagramImage(source: InetEndpoint(host: host, port: 5300), destination: destination, payload: Data(count: bytes))
    }

    func testASoundQueuePasses() {
        XCTAssertNil(QueuedDatagramImage.invalidField(of: [datagram(), datagram(from: "::1", to: nil, bytes: 65527)]))
    }

    func testHostileQueuesAreNamedByField() {
        XCTAssertEqual(QueuedDatagramImage.invalidField(of: [datagram(), datagram(bytes: 65528)])?.field, "queue[1].payload")
        XCTAssertEqual(QueuedDatagramImage.invalidField(of: [datagram(from: "host")])?.field, "queue[0].source")
        XCTAssertEqual(QueuedDatagramImage.invalidField(of: [datagram(to: "1.2.3")])?.field, "queue[0].destination")
        XCTAssertEqual(QueuedDatagramImage.invalidField(of: Array(repeating: datagram(), count: QueuedDatagramImage.mostQueued + 1))?.field, "queue")
    }
}
