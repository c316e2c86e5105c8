import Glibc
import XCTest

/// Every codec must give back the same memory; the image says which one
/// it used.
final class CompressionTests: EndToEndCase {
    func testUncompressed() throws { try roundTripCounter(codec: "none") }
    func testZlib() throws { try roundTripCounter(codec: "zlib") }
    func testZlibLevel9() throws { try roundTripCounter(codec: "zlib:9") }
    func testZstd() throws { try roundTripCounter(codec: "zstd") }
    func testZstdLevel3() throws { try roundTripCounter(codec: "zstd:3") }

    /// Half the pages are zero and half random: the first kind is what
    /// dumps skip or squeeze, the second what codecs cannot shrink.
    private func roundTripCounter(codec: String) throws {
        let counter = try startFixture("counter", ["--heap-mib", "32", "--zero-half"])
        let checksum = try heapChecksum(counter)
        try counter.waitFor("tick", atLeast: 3)

        let image = try checkpoint(counter, options: ["--compress", codec])
        let show = try crtool(["show", image])
        XCTAssertTrue(show.succeeded, "\(show)")
        let codecName = String(codec.prefix { $0 != ":" })
        XCTAssertTrue(show.stdout.lowercased().contains(codecName), "show does not name \(codecName): \(show)")

        let lastBefore = try XCTUnwrap(counter.numbers("tick").last)
        let mark = counter.lineCount
        try restore(image, as: counter)
        try counter.signal(SIGUSR1)
        try counter.waitFor(line: "verify \(checksum) ok", from: mark)
        try counter.waitFor("tick", atLeast: lastBefore + 3, from: mark)
        assertSequence(counter, "tick", startingAt: 1)
        assertNoFailures(counter)
    }
}
