@testable import Checkpoint
import Foundation
import XCTest

/// A message queue's saved state is checked before the restore makes it:
/// a hostile one is refused by field.
final class MessageQueueStateTests: XCTestCase {
    func testAQueueNoKernelCouldHaveMadeIsRefusedByField() {
        let good = MessageQueueState(name: "/jobs", unlinked: false, mode: 0o640, uid: 0, gid: 0, maxMessages: 2, messageSize: 8,
                                     messages: [QueuedMessage(priority: 3, data: Data("12345678".utf8))])
        XCTAssertNil(good.invalidField)
        let edits: [(String, (inout MessageQueueState) -> Void)] = [
            ("name", { $0.name = "jobs" }), ("name", { $0.name = "/a/b" }), ("name", { $0.name = "/" }),
            ("name", { $0.name = "/" + String(repeating: "x", count: 256) }),
            ("mode", { $0.mode = 0o170000 }),
            ("maxMessages", { $0.maxMessages = 0 }), ("messageSize", { $0.messageSize = 17 << 20 }),
            ("messages", { $0.maxMessages = 0; $0.maxMessages = 1; $0.messages += $0.messages }),
            ("messages[0]", { $0.messages[0].priority = 32768 }), ("messages[0]", { $0.messages[0].data = Data(count: 9) }),
        ]
        for (field, edit) in edits {
            var q = good
            edit(&q)
            XCTAssertEqual(q.invalidField?.field, field, "\(q)")
        }
    }
}
