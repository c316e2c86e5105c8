@testable import Checkpoint
import XCTest

/// A fanotify group's saved state is checked before the restore makes it:
/// a group that would decide other processes' accesses, or a mark no
/// kernel could have shown, is refused by field.
final class FanotifyStateTests: XCTestCase {
    func testAGroupNoDumpCouldHaveSavedIsRefusedByField() {
        let good = FanotifyState(flags: 0x3, eventFlags: 0x8000, marks: [
            .init(object: .inode, path: "/srv/watched", inode: 42, flags: 0x40, mask: 0, ignoredMask: 0x20),
            .init(object: .mount, path: "/", inode: nil, flags: 0, mask: 0x10, ignoredMask: 0),
        ])
        XCTAssertNil(good.invalidField)
        let edits: [(String, (inout FanotifyState) -> Void)] = [
            ("flags", { $0.flags |= 0x04 }), ("flags", { $0.flags |= 0x08 }),
            ("marks[0].path", { $0.marks[0].path = "srv/watched" }),
            ("marks[1].mask", { $0.marks[1].mask = 0 }),
        ]
        for (field, edit) in edits {
            var group = good
            edit(&group)
            XCTAssertEqual(group.invalidField?.field, field, "\(group)")
        }
    }
}
