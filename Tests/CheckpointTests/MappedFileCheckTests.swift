@testable import Checkpoint
import Foundation
import Ptrace
import Glibc
import XCTest

/// Files mapped by path are recorded at the dump (size, ELF build id) and
/// checked before a restore creates anything; the build id is read from
/// any file handed over, hostile ones included.
final class MappedFileCheckTests: XCTestCase {
    private var directory = ""

    override func setUp() {
        directory = TestData.temporaryDirectory()
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static let buildID: [UInt8] = (0..<20).map { UInt8($0 * 13 + 7) }
    private static let buildIDHex = buildID.map { String(format: "%02x", $0) }.joined()

    /// A note: name size, description size, type, then the name and the
    /// description, each padded to 4 bytes.
    private static func note(name: [UInt8], type: UInt32, description: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendLittleEndian(UInt32(name.count))
        bytes.appendLittleEndian(UInt32(description.count))
        bytes.appendLittleEndian(type)
        bytes += name + [UInt8](repeating: 0, count: (4 - name.count % 4) % 4)
        bytes += description + [UInt8](repeating: 0, count: (4 - description.count % 4) % 4)
        return bytes
    }

    private static let gnu: [UInt8] = Array("GNU".utf8) + [0]

    /// A 64-bit little-endian ELF file: its header, a PT_LOAD and a
    /// PT_NOTE program header, the notes, then `tail` bytes of zeros.
    private static func elf(notes: [UInt8], elfClass: UInt8 = 2, tail: Int = 64) -> [UInt8] {
        var bytes: [UInt8] = [0x7f, 0x45, 0x4c, 0x46, elfClass, 1, 1, 0] + [UInt8](repeating: 0, count: 8)
        bytes.appendLittleEndian(UInt16(3))      // ET_DYN
        bytes.appendLittleEndian(UInt16(0x3e))   // x86-64
        bytes.appendLittleEndian(UInt32(1))
        bytes.appendLittleEndian(UInt64(0))      // entry
        bytes.appendLittleEndian(UInt64(64))     // program headers
        bytes.appendLittleEndian(UInt64(0))      // section headers
        bytes.appendLittleEndian(UInt32(0))
        bytes.appendLittleEndian(UInt16(64))
        bytes.appendLittleEndian(UInt16(56))
        bytes.appendLittleEndian(UInt16(2))
        bytes += [UInt8](repeating: 0, count: 6)
        let notesAt = UInt64(64 + 2 * 56)
        for (type, offset, size) in [(UInt32(1), UInt64(0), notesAt), (UInt32(4), notesAt, UInt64(notes.count))] {
            bytes.appendLittleEndian(type)
            bytes.appendLittleEndian(UInt32(4))
            bytes.appendLittleEndian(offset)
            bytes.appendLittleEndian(UInt64(0))
            bytes.appendLittleEndian(UInt64(0))
            bytes.appendLittleEndian(size)
            bytes.appendLittleEndian(size)
            bytes.appendLittleEndian(UInt64(4))
        }
        return bytes + notes + [UInt8](repeating: 0, count: tail)
    }

    private static let withBuildID = elf(notes: note(name: gnu, type: 1, description: [0, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0])
        + note(name: gnu, type: 3, description: buildID))

    private static func buildID(of bytes: [UInt8]) -> String? {
        ElfBuildID.of { offset, count in
            guard offset <= UInt64(bytes.count) else { return [] }
            return Array(bytes[Int(offset)..<min(bytes.count, Int(offset) + count)])
        }
    }

    // MARK: the build id

    func testTheBuildIDNoteIsFoundAfterAnotherNote() {
        XCTAssertEqual(Self.buildID(of: Self.withBuildID), Self.buildIDHex)
    }

    func testFilesWithoutABuildIDHaveNone() {
        XCTAssertNil(Self.buildID(of: Self.elf(notes: Self.note(name: Self.gnu, type: 1, description: [1, 2, 3, 4]))), "only an ABI tag")
        XCTAssertNil(Self.buildID(of: Self.elf(notes: Self.note(name: Array("Go\0\0".utf8), type: 3, description: Self.buildID))),
                     "type 3 of another owner")
        XCTAssertNil(Self.buildID(of: Self.elf(notes: Self.note(name: Self.gnu, type: 3, description: Self.buildID), elfClass: 1)),
                     "32-bit ELF")
        XCTAssertNil(Self.buildID(of: Array("#!/bin/sh\necho hello\n".utf8) + [UInt8](repeating: 0, count: 100)))
        XCTAssertNil(Self.buildID(of: []))
    }

    func testHostileSizesGiveNoIDAndNoHugeRead() {
        var largest = 0
        func reading(_ bytes: [UInt8]) -> String? {
            ElfBuildID.of { offset, count in
                largest = max(largest, count)
                XCTAssertLessThanOrEqual(offset, UInt64(Int64.max) - UInt64(count), "an offset pread cannot take")
                guard offset <= UInt64(bytes.count) else { return [] }
                return Array(bytes[Int(offset)..<min(bytes.count, Int(offset) + count)])
            }
        }
        let notesAt = 64 + 2 * 56
        var huge = Self.withBuildID
        let second = notesAt + 12 + 4 + 16 // past the ABI tag note
        huge[second + 4] = 0xff // the build id note's description size
        huge[second + 7] = 0xff
        XCTAssertNil(reading(huge), "a description size past the segment")
        var entries = Self.withBuildID
        entries[0x38] = 0xff
        entries[0x39] = 0xff
        XCTAssertNil(reading(entries), "65535 program headers")
        var segment = Self.withBuildID
        for i in 0..<8 { segment[64 + 56 + 0x20 + i] = 0xff } // the note segment's size
        XCTAssertNil(reading(segment), "a note segment of 2^64 - 1 bytes")
        var away = Self.withBuildID
        for i in 0..<8 { away[0x20 + i] = 0xff } // program headers at 2^64 - 1
        XCTAssertNil(reading(away))
        var noteAway = Self.withBuildID
        for i in 0..<8 { noteAway[64 + 56 + 0x08 + i] = 0xff } // the note segment at 2^64 - 1
        XCTAssertNil(reading(noteAway))
        XCTAssertNil(reading(Array(Self.withBuildID.prefix(150))), "cut inside the program headers")
        XCTAssertLessThanOrEqual(largest, ElfBuildID.maxHeaderBytes)
    }

    func testMutatedFilesNeverCrashTheReader() {
        var generator = SeededGenerator(seed: 0xe1f)
        var found = 0
        for _ in 0..<3000 {
            var bytes = Self.withBuildID
            for _ in 0..<(1 + Int(generator.next() % 4)) {
                let offset = Int(generator.next() % UInt64(bytes.count))
                bytes[offset] = UInt8(truncatingIfNeeded: generator.next())
            }
            if generator.next() % 5 == 0 { bytes = Array(bytes.prefix(Int(generator.next() % UInt64(bytes.count)))) }
            if let id = Self.buildID(of: bytes) {
                found += 1
                XCTAssertTrue(id.count % 2 == 0 && id.allSatisfy(\.isHexDigit), id)
            }
        }
        XCTAssertGreaterThan(found, 0, "mutations past the note leave the id readable")
    }

    // MARK: the check before a restore

    private func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = directory + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    private func recorded(_ path: String, privately: Bool = true) throws -> MappedFileImage {
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber).uint64Value
        return MappedFileImage(path: path, size: size, mappedPrivately: privately, buildID: Self.buildIDHex)
    }

    func testAnUnchangedFilePasses() throws {
        let path = try write("lib.so", Self.withBuildID)
        XCTAssertNil(MappedFiles.change(of: try recorded(path)))
    }

    func testAnotherSizeIsAChangeForAPrivateMappingOnly() throws {
        let path = try write("lib.so", Self.withBuildID)
        let privately = try recorded(path)
        let shared = try recorded(path, privately: false)
        _ = try write("lib.so", Self.withBuildID + [1, 2, 3])
        let size = Self.withBuildID.count
        XCTAssertEqual(MappedFiles.change(of: privately), "now \(size + 3) bytes (\(size) at the dump)")
        XCTAssertNil(MappedFiles.change(of: shared), "a file mapped shared is data others may grow")
    }

    func testAnotherBuildOfTheSameSizeIsAChange() throws {
        let path = try write("lib.so", Self.withBuildID)
        let before = try recorded(path)
        var rebuilt = Self.withBuildID
        rebuilt[rebuilt.count - 64 - 1] ^= 0xff // the last byte of the build id
        _ = try write("lib.so", rebuilt)
        let now = String(Self.buildIDHex.dropLast(2)) + String(format: "%02x", Self.buildID.last! ^ 0xff)
        XCTAssertEqual(MappedFiles.change(of: before), "build id now \(now) (\(Self.buildIDHex) at the dump)")
        _ = try write("lib.so", Array("not ELF at all".utf8) + [UInt8](repeating: 0, count: Self.withBuildID.count - 14))
        XCTAssertEqual(MappedFiles.change(of: before), "build id now none (\(Self.buildIDHex) at the dump)")
    }

    func testAFileGoneOrMadeADirectoryIsAChange() throws {
        let path = try write("lib.so", Self.withBuildID)
        let before = try recorded(path)
        unlink(path)
        XCTAssertEqual(MappedFiles.change(of: before), "it cannot be found: No such file or directory (ENOENT)")
        mkdir(path, 0o700)
        XCTAssertEqual(MappedFiles.change(of: before), "it is no longer a regular file")
    }

    func testTheRestoreIsRefusedNamingEveryChangedFileOnce() throws {
        let a = try write("a.so", Self.withBuildID)
        let b = try write("b.so", Self.withBuildID)
        let c = try write("c.so", Self.withBuildID)
        let files = [try recorded(a), try recorded(b), try recorded(c)]
        let processes = [process(pid: 100, files), process(pid: 101, files)]
        XCTAssertNoThrow(try MappedFiles.requireUnchanged(processes))
        _ = try write("a.so", Self.withBuildID + [0])
        unlink(c)
        XCTAssertThrowsError(try MappedFiles.requireUnchanged(processes)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("2 files the image maps changed since the dump"), text)
            XCTAssertEqual(text.components(separatedBy: a).count - 1, 1, text)
            XCTAssertTrue(text.contains("\(a) (mapped by pid 100 at 0x100000): now"), text)
            XCTAssertTrue(text.contains("\(c) (mapped by pid 100 at 0x300000): it cannot be found"), text)
            XCTAssertFalse(text.contains(b), text)
        }
        XCTAssertNoThrow(try MappedFiles.requireUnchanged([process(pid: 102, nil)]), "an older image records no files")
    }

    func testAHostileImageIsRefusedNamingTheField() throws {
        func refusal(_ file: MappedFileImage) -> ImageError? {
            process(pid: 100, [file]).consistencyRefusal()
        }
        XCTAssertNil(refusal(MappedFileImage(path: "/lib/a.so", size: 1, mappedPrivately: true, buildID: "00ff")))
        XCTAssertEqual(refusal(MappedFileImage(path: "lib/a.so", size: 1, mappedPrivately: true, buildID: nil))?.field, "mappedFiles[0].path")
        for id in ["", "0", "xyz0", String(repeating: "ab", count: 65)] {
            XCTAssertEqual(refusal(MappedFileImage(path: "/lib/a.so", size: 1, mappedPrivately: true, buildID: id))?.field,
                           "mappedFiles[0].buildID", id)
        }
    }

    private func process(pid: Int32, _ files: [MappedFileImage]?) -> ProcessImage {
        ProcessImage.testing(pid: pid, vmas: (files ?? []).enumerated().map { i, file in
            VMAImage(start: UInt64(i + 1) << 20, end: (UInt64(i + 1) << 20) + 4096, protection: "r--p",
                     kind: .privateFile, offset: 0, path: file.path, flags: [], pagesStored: 0)
        }, mappedFiles: files)
    }

    // MARK: what a dump records

    func testFilesAreRecordedOnceFromWhatIsActuallyMapped() throws {
        let path = try write("lib.so", Self.withBuildID + [UInt8](repeating: 0, count: 8192))
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        let length = 12288
        let privateMap = try XCTUnwrap(mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0))
        let sharedMap = try XCTUnwrap(mmap(nil, length, PROT_READ, MAP_SHARED, fd, 0))
        defer { munmap(privateMap, length); munmap(sharedMap, length) }
        func vma(_ map: UnsafeMutableRawPointer, _ kind: VMAKind) -> VMAImage {
            let start = UInt64(UInt(bitPattern: map))
            return VMAImage(start: start, end: start + UInt64(length), protection: "r--p", kind: kind, offset: 0,
                            path: path, flags: [], pagesStored: 0)
        }
        // The path names another file by now: the mapped one is read.
        try FileManager.default.moveItem(atPath: path, toPath: path + ".old")
        _ = try write("lib.so", Array("#!/bin/sh\n".utf8))
        let files = MappedFiles.identities(of: [vma(sharedMap, .sharedFile), vma(privateMap, .privateFile)], pid: getpid())
        XCTAssertEqual(files, [MappedFileImage(path: path, size: UInt64(Self.withBuildID.count + 8192), mappedPrivately: true,
                                               buildID: Self.buildIDHex)])
    }
}
