import Glibc
import Ptrace
import XCTest

/// The System V IPC wrappers on real objects: ids chosen through
/// *_next_id, contents read and written, messages copied without being
/// taken out of their queue.
final class SysVIPCWrapperTests: XCTestCase {
    private var made: [(SysVIPCKind, Int32)] = []

    override func tearDown() {
        for (kind, id) in made { try? SysVIPC.remove(kind, id: id) }
        made = []
        super.tearDown()
    }

    /// An id nobody holds, in a slot nobody holds.
    private func freeID(_ kind: SysVIPCKind) throws -> Int32 {
        let taken = try SysVIPC.list(kind)
        let candidate = (Int32(getpid() % 1000) + 200) | (3 << 15)
        for step in Int32(0)..<1000 {
            let id = candidate + step
            if !taken.contains(where: { $0.id & SysVIPC.indexMask == id & SysVIPC.indexMask }) { return id }
        }
        throw XCTSkip("no free System V \(kind.noun) slot")
    }

    func testSegmentKeepsItsIdAndContents() throws {
        let want = try freeID(.sharedMemory)
        try SysVIPC.setNextID(.sharedMemory, want)
        let id = try SysVSharedMemory.create(key: 0, size: 5 * 4096 + 10)
        made.append((.sharedMemory, id))
        XCTAssertEqual(id, want)
        let rw = try SysVSharedMemory.attach(id: id, readOnly: false)
        XCTAssertEqual(try rw.residentPages(), [false, false, false, false, false, false], "a new segment is all holes")
        try rw.write([1, 2, 3, 4], range: 1..<4, at: 2 * 4096 + 7)
        try rw.write([9], range: 0..<1, at: 5 * 4096 + 9)
        rw.detach()
        let ro = try SysVSharedMemory.attach(id: id, readOnly: true)
        XCTAssertEqual(try ro.residentPages(), [false, false, true, false, false, true])
        var buffer = [UInt8](repeating: 0xff, count: 16)
        try ro.read(into: &buffer, count: 16, at: 2 * 4096)
        XCTAssertEqual(buffer, [0, 0, 0, 0, 0, 0, 0, 2, 3, 4, 0, 0, 0, 0, 0, 0])
        XCTAssertThrowsError(try ro.read(into: &buffer, count: 16, at: 6 * 4096 - 8), "past the attachment")
        ro.detach()
        try SysVSharedMemory.setOwnership(id: id, uid: 65534, gid: 65534, mode: 0o640)
        let status = try SysVSharedMemory.status(id: id)
        XCTAssertEqual(status.size, 5 * 4096 + 10)
        XCTAssertEqual(status.ownership.uid, 65534)
        XCTAssertEqual(status.ownership.mode & 0o777, 0o640)
        XCTAssertEqual(status.ownership.key, 0)
    }

    func testSemaphoreValuesRoundTrip() throws {
        let want = try freeID(.semaphores)
        try SysVIPC.setNextID(.semaphores, want)
        let id = try SysVSemaphores.create(key: 0, count: 4)
        made.append((.semaphores, id))
        XCTAssertEqual(id, want)
        try SysVSemaphores.setValues(id: id, [3, 0, 32767, 1])
        XCTAssertEqual(try SysVSemaphores.values(id: id, count: 4), [3, 0, 32767, 1])
        XCTAssertEqual(try SysVSemaphores.status(id: id).count, 4)
    }

    func testMessagesAreCopiedInOrderAndStayQueued() throws {
        let want = try freeID(.messageQueue)
        try SysVIPC.setNextID(.messageQueue, want)
        let id = try SysVMessageQueue.create(key: 0)
        made.append((.messageQueue, id))
        XCTAssertEqual(id, want)
        let sent = (0..<5).map { SysVMessage(type: 1 + $0 % 2, text: Array("message \($0)".utf8)) }
            + [SysVMessage(type: 7, text: [])]
        for m in sent { try SysVMessageQueue.send(id: id, m) }
        var copied: [SysVMessage] = []
        while let m = try SysVMessageQueue.copy(id: id, index: copied.count) { copied.append(m) }
        XCTAssertEqual(copied, sent)
        XCTAssertEqual(try SysVMessageQueue.status(id: id).messages, 6, "copies leave the messages queued")
        XCTAssertTrue(try SysVIPC.list(.messageQueue).contains { $0.id == id && $0.key == 0 })
    }
}
