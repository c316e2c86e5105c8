import Codecs
import Glibc
import Ptrace
import XCTest

/// A checksum over a mapped image file turns a page that vanished under
/// the mapping into an error instead of SIGBUS ending crtool.
final class MappedChecksumTests: XCTestCase {
    private var path = ""

    override func setUpWithError() throws {
        path = NSTemporaryDirectory() + "/mapped-checksum-\(getpid())-\(UUID().uuidString)"
        var bytes = [UInt8](repeating: 0, count: 1 << 20)
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: i &* 2654435761 >> 7) }
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
    }

    override func tearDown() {
        unlink(path)
    }

    func testChecksumOfAMappingMatchesTheBytes() throws {
        let fd = open(path, O_RDONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        let mapping = try MappedFile(fd: fd, size: 1 << 20, path: path)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        for range in [0..<(1 << 20), 100..<5000, 4096..<4200] {
            let crc = try mapping.withGuardedBytes(range) { CRC32.update(0, mapping: $0) }.get()
            XCTAssertEqual(crc, CRC32.checksum(bytes[range]), "range \(range)")
        }
    }

    func testAFileTruncatedUnderItsMappingIsAnErrorNotACrash() throws {
        let fd = open(path, O_RDWR)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        let mapping = try MappedFile(fd: fd, size: 1 << 20, path: path)
        XCTAssertEqual(ftruncate(fd, 8192), 0)
        // The pages still in the file read as before.
        let head = try mapping.withGuardedBytes(0..<8192) { CRC32.update(0, mapping: $0) }.get()
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertEqual(head, CRC32.checksum(bytes))
        // Past the new end the mapping has nothing: SIGBUS, caught.
        for _ in 0..<3 {
            let whole = mapping.withGuardedBytes(0..<(1 << 20)) { CRC32.update(0, mapping: $0) }
            guard case .failure(let failure) = whole else { return XCTFail("a checksum over vanished pages gave \(whole)") }
            XCTAssertEqual(failure.errno, EFAULT)
        }
        // The guard is gone once the checksum returned: good reads go on.
        XCTAssertEqual(try mapping.withGuardedBytes(0..<4096) { CRC32.update(0, mapping: $0) }.get(), CRC32.checksum(bytes[0..<4096]))
    }
}
