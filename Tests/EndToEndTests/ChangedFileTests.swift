import Foundation
import Glibc
import XCTest

/// A restore maps the program and its libraries again by path. When one
/// was rebuilt or upgraded since the dump, the saved memory would run
/// over other code: the restore says which file changed and how, and
/// creates nothing; with the file put back it restores.
final class ChangedFileTests: EndToEndCase {
    /// Where the build id of an ELF file's NT_GNU_BUILD_ID note starts,
    /// found by the note's fixed header (name size 4, description size 20,
    /// type 3, "GNU"), not by crtool's reader.
    private func buildIDOffset(in bytes: [UInt8]) throws -> Int {
        let header: [UInt8] = [4, 0, 0, 0, 20, 0, 0, 0, 3, 0, 0, 0, 0x47, 0x4e, 0x55, 0]
        for i in 0...(bytes.count - header.count) where bytes[i..<(i + header.count)].elementsEqual(header) {
            return i + header.count
        }
        throw HarnessError("no 20-byte GNU build id note in the copied program")
    }

    private func assertRefused(_ image: String, _ program: Fixture, mentioning texts: [String],
                               file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try crtool(["restore", "-D", image, "-d"])
        XCTAssertFalse(result.succeeded, "restored over a changed program: \(result)", file: file, line: line)
        for text in texts {
            XCTAssertTrue(result.stderr.contains(text), "the error names \(text): \(result.stderr)", file: file, line: line)
        }
        XCTAssertTrue(ProcessTable.isFree(program.pid), "a refused restore made pid \(program.pid)", file: file, line: line)
    }

    func testAChangedProgramIsRefusedUntilItIsPutBack() throws {
        let original = BuildProducts.fixture("counter")
        try BuildProducts.requireExecutable(original)
        let copy = scratch.newPath("counter-copy")
        let bytes = try XCTUnwrap(readWholeFile(original))
        try writeWholeFile(copy, bytes)
        chmod(copy, 0o755)
        let counter = try startProgram("counter-copy", copy, ["--heap-mib", "16"])
        let checksum = try heapChecksum(counter)
        try counter.waitFor("tick", atLeast: 2)
        let image = try checkpoint(counter)
        // What the restore will need, as `show` tells it.
        let shown = try crtool(["show", "--vmas", image])
        let buildID = try buildIDOffset(in: bytes)
        let recorded = bytes[buildID..<(buildID + 20)].map { String(format: "%02x", $0) }.joined()
        XCTAssertTrue(shown.stdout.contains("-counter-copy: \(bytes.count) bytes, build id \(recorded)\n"), shown.stdout)
        let named = (copy as NSString).lastPathComponent + " (mapped by pid \(counter.pid) at 0x"

        // A byte more: another size.
        try writeWholeFile(copy, bytes + [0])
        try assertRefused(image, counter, mentioning: [named, "now \(bytes.count + 1) bytes (\(bytes.count) at the dump)"])

        // The same size, another build.
        var rebuilt = bytes
        rebuilt[buildID] ^= 0xff
        try writeWholeFile(copy, rebuilt)
        let now = rebuilt[buildID..<(buildID + 20)].map { String(format: "%02x", $0) }.joined()
        try assertRefused(image, counter, mentioning: [named, "build id now \(now) (\(recorded) at the dump)"])

        // The program as it was: the counter carries on, heap and all.
        try writeWholeFile(copy, bytes)
        let mark = counter.lineCount
        try restore(image, as: counter)
        try counter.waitForMore("tick", 2, after: mark)
        try checkHeap(counter, is: checksum, from: mark)
        assertNoFailures(counter)
    }

    func testADataFileMappedSharedMayGrowMeanwhile() throws {
        let data = scratch.newPath("table.dat")
        try writeWholeFile(data, [UInt8](repeating: 7, count: 8192))
        let program = try startPython("shared-data", """
            import mmap, sys, time
            f = open(sys.argv[1], "r+b")
            m = mmap.mmap(f.fileno(), 8192, mmap.MAP_SHARED)
            print("ready", flush=True)
            tick = 0
            while True:
                tick += 1
                m[tick % 8192] = tick % 256
                print("tick", tick, m[:8192].count(7), flush=True)
                time.sleep(0.05)
            """, [data])
        try program.waitFor("tick", atLeast: 2)
        let image = try checkpoint(program)
        // Another program appends to the shared file: no reason to refuse.
        let appender = try XCTUnwrap(FileHandle(forWritingAtPath: data))
        appender.seekToEndOfFile()
        appender.write(Data(repeating: 9, count: 4096))
        appender.closeFile()
        let mark = program.lineCount
        try restore(image, as: program)
        try program.waitForMore("tick", 3, after: mark)
        assertNoFailures(program)
    }
}
