@testable import Checkpoint
import XCTest

final class ImageDirectoryTests: XCTestCase {
    private var root = ""

    override func setUp() {
        root = TestData.temporaryDirectory()
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: root)
    }

    private func mode(_ path: String) -> Int {
        (try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
    }

    private func bytes(_ name: String, in path: String) -> [UInt8] {
        [UInt8](FileManager.default.contents(atPath: path + "/" + name) ?? Data())
    }

    private func write(_ bytes: [UInt8], _ name: String, in path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path + "/" + name))
    }

    /// Opens and reads the whole image, expecting an ImageError naming `file`.
    private func expectImageError(at path: String, file: String, field: String? = nil,
                                  line: UInt = #line) {
        XCTAssertThrowsError(try ImageFixture.readAll(at: path), line: line) { error in
            guard let error = error as? ImageError else { return XCTFail("not an ImageError: \(error)", line: line) }
            XCTAssertEqual(error.file, file, "\(error)", line: line)
            if let field { XCTAssertEqual(error.field, field, "\(error)", line: line) }
        }
    }

    func testRoundTrip() throws {
        let path = root + "/a/b/image"
        let fixture = try ImageFixture.make(at: path)
        let (manifest, process, chunks) = try ImageFixture.readAll(at: path)
        XCTAssertEqual(manifest, fixture.manifest)
        XCTAssertEqual(process, fixture.process)
        XCTAssertEqual(chunks, fixture.chunks)
        XCTAssertEqual(Set(manifest.files.keys), [ImageFixture.jsonName, ImageFixture.pagesName])
        XCTAssertEqual(manifest.formatVersion, Manifest.standaloneFormatVersion)
        XCTAssertEqual(manifest.architecture, "x86_64")
        XCTAssertFalse(manifest.kernelRelease.isEmpty)
        XCTAssertEqual(manifest.processes.first?.tids, [100, 101])
        let text = String(decoding: bytes("manifest.json", in: path), as: UTF8.self)
        XCTAssertTrue(text.contains("\"codec\" : \"zstd:1\""), text)
        XCTAssertTrue(text.contains("\"manifestCRC32\" : \""), text)
    }

    func testPermissionsIgnoreUmask() throws {
        let old = umask(0)
        defer { umask(old) }
        let path = root + "/x/image"
        _ = try ImageFixture.make(at: path)
        XCTAssertEqual(mode(root + "/x"), 0o700)
        XCTAssertEqual(mode(path), 0o700)
        for name in ["manifest.json", ImageFixture.jsonName, ImageFixture.pagesName] {
            XCTAssertEqual(mode(path + "/" + name), 0o600, name)
        }
    }

    func testRefusesToOverwriteUnlessAsked() throws {
        let path = root + "/image"
        _ = try ImageFixture.make(at: path)
        XCTAssertThrowsError(try ImageDirectory.create(at: path)) { error in
            XCTAssertEqual((error as? ImageIOError)?.errno, EEXIST, "\(error)")
            XCTAssertTrue("\(error)".contains(path), "\(error)")
            XCTAssertTrue("\(error)".contains("(EEXIST); it already holds an image"), "\(error)")
        }
        let image = try ImageDirectory.create(at: path, overwrite: true)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + "/manifest.json"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + "/" + ImageFixture.pagesName))
        try image.writeJSON(["a": 1], to: "other.json")
        try image.commit(Manifest())
        XCTAssertEqual(Set(try ImageDirectory.open(at: path).manifest.files.keys), ["other.json"])
    }

    /// Root writes through permission bits, so the directory is a
    /// read-only tmpfs mount: creating the image inside it must fail with
    /// the path and errno named.
    func testUnwritableDirectoryIsReported() throws {
        let path = root + "/locked"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o500])
        var expected = EACCES
        if getuid() == 0 {
            guard mount("tmpfs", path, "tmpfs", UInt(MS_RDONLY), nil) == 0 else {
                return XCTFail("mounting a read-only tmpfs at \(path) failed: errno \(errno)")
            }
            expected = EROFS
        }
        defer { if getuid() == 0 { umount(path) } }
        XCTAssertThrowsError(try ImageDirectory.create(at: path + "/image")) { error in
            XCTAssertEqual((error as? ImageIOError)?.errno, expected, "\(error)")
            XCTAssertTrue("\(error)".contains(path), "\(error)")
        }
    }

    /// A file size limit stands in for a full disk: the write fails with
    /// EFBIG the way it would with ENOSPC, even for root.
    func testWriteFailureCarriesPathAndErrno() throws {
        let path = root + "/image"
        let image = try ImageDirectory.create(at: path)
        let writer = try image.pageWriter(name: "pages.img", codec: Codec(kind: .none))
        let previousHandler = signal(SIGXFSZ, SIG_IGN)
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_FSIZE.rawValue), &limit)
        var small = limit
        small.rlim_cur = 64 << 10
        setrlimit(Int32(RLIMIT_FSIZE.rawValue), &small)
        defer {
            setrlimit(Int32(RLIMIT_FSIZE.rawValue), &limit)
            signal(SIGXFSZ, previousHandler)
        }
        XCTAssertThrowsError(try writer.append(PageStreamTests.makeChunk(index: 0, pages: 32, kind: 0))) { error in
            XCTAssertEqual((error as? ImageIOError)?.errno, EFBIG, "\(error)")
            XCTAssertTrue("\(error)".contains(path + "/pages.img"), "\(error)")
        }
        XCTAssertThrowsError(try writer.append(PageStreamTests.makeChunk(index: 1, pages: 1, kind: 1)))
        XCTAssertThrowsError(try writer.finish())
        XCTAssertThrowsError(try image.commit(Manifest()))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + "/manifest.json"))
    }

    func testCreateUnderAFileFails() throws {
        let file = root + "/plain"
        try Data([1]).write(to: URL(fileURLWithPath: file))
        XCTAssertThrowsError(try ImageDirectory.create(at: file + "/image")) { error in
            XCTAssertTrue(error is ImageIOError, "\(error)")
            XCTAssertTrue("\(error)".contains(file), "\(error)")
        }
    }

    func testNewerFormatIsRefused() throws {
        let path = root + "/image"
        let image = try ImageDirectory.create(at: path)
        try image.commit(Manifest(formatVersion: Manifest.currentFormatVersion + 1))
        expectImageError(at: path, file: "manifest.json", field: "formatVersion")
        do {
            _ = try ImageDirectory.open(at: path)
        } catch {
            XCTAssertTrue("\(error)".contains("newer crtool"), "\(error)")
        }
    }

    func testWrongTypeNamesTheField() throws {
        let path = root + "/image"
        _ = try ImageFixture.make(at: path)
        // Rewrite the manifest with a string pid, keeping its checksum valid.
        var text = String(decoding: bytes("manifest.json", in: path), as: UTF8.self)
        text = text.replacingOccurrences(of: "\"pid\" : 100", with: "\"pid\" : \"100\"")
        let manifest = try XCTUnwrap(try? JSONSerialization.jsonObject(with: Data(text.utf8)))
        _ = manifest
        try write(try rechecksummed(Array(text.utf8)), "manifest.json", in: path)
        expectImageError(at: path, file: "manifest.json", field: "processes[0].pid")

        // The same for a metadata file, through readJSON.
        _ = try ImageFixture.make(at: root + "/second")
        let image = try ImageDirectory.open(at: root + "/second")
        XCTAssertThrowsError(try image.readJSON([String: [Int]].self, from: ImageFixture.jsonName)) { error in
            XCTAssertEqual((error as? ImageError)?.file, ImageFixture.jsonName, "\(error)")
        }
        struct Wrong: Decodable { struct Region: Decodable { var start: String }; var regions: [Region] }
        XCTAssertThrowsError(try image.readJSON(Wrong.self, from: ImageFixture.jsonName)) { error in
            XCTAssertEqual((error as? ImageError)?.field, "regions[0].start", "\(error)")
        }
        struct Missing: Decodable { var absent: Int }
        XCTAssertThrowsError(try image.readJSON(Missing.self, from: ImageFixture.jsonName)) { error in
            XCTAssertEqual((error as? ImageError)?.field, "absent", "\(error)")
        }
    }

    func testMissingAndUnlistedFiles() throws {
        let path = root + "/image"
        _ = try ImageFixture.make(at: path)
        try FileManager.default.removeItem(atPath: path + "/" + ImageFixture.jsonName)
        expectImageError(at: path, file: ImageFixture.jsonName, field: "file")

        _ = try ImageFixture.make(at: root + "/second")
        try write([1, 2, 3], "stray.img", in: root + "/second")
        expectImageError(at: root + "/second", file: "stray.img", field: "name")
        try FileManager.default.removeItem(atPath: root + "/second/stray.img")
        try write([1, 2, 3], "notes.txt", in: root + "/second")
        XCTAssertNoThrow(try ImageFixture.readAll(at: root + "/second"))

        try FileManager.default.removeItem(atPath: root + "/second/manifest.json")
        expectImageError(at: root + "/second", file: "manifest.json", field: "file")
    }

    func testFlippedByteInEachFileIsNamed() throws {
        for name in ["manifest.json", ImageFixture.jsonName, ImageFixture.pagesName] {
            let path = root + "/" + name
            _ = try ImageFixture.make(at: path)
            var content = bytes(name, in: path)
            for offset in [0, content.count / 2, content.count - 1] {
                content[offset] ^= 0x10
                try write(content, name, in: path)
                expectImageError(at: path, file: name)
                content[offset] ^= 0x10
            }
        }
    }

    func testTruncatedPageFileIsRejected() throws {
        let path = root + "/image"
        _ = try ImageFixture.make(at: path)
        let content = bytes(ImageFixture.pagesName, in: path)
        try write(Array(content.dropLast(100)), ImageFixture.pagesName, in: path)
        expectImageError(at: path, file: ImageFixture.pagesName, field: "size")
        // Without the manifest's size, the chunk walk itself notices.
        XCTAssertThrowsError(try PageStreamReader(path: path + "/" + ImageFixture.pagesName)) { error in
            XCTAssertEqual((error as? ImageError)?.field, "storedSize", "\(error)")
        }
    }

    func testHostileFileNamesInManifestAreRefused() throws {
        let path = root + "/image"
        let image = try ImageDirectory.create(at: path)
        var manifest = Manifest()
        manifest.files = ["../../etc/passwd": FileChecksum(size: 1, crc32: 0)]
        let bytes = try ManifestFile.encode(manifest)
        _ = image
        try write(bytes, "manifest.json", in: path)
        XCTAssertThrowsError(try ImageDirectory.open(at: path)) { error in
            XCTAssertEqual((error as? ImageError)?.file, "manifest.json", "\(error)")
            XCTAssertEqual((error as? ImageError)?.field, "files[\"../../etc/passwd\"]", "\(error)")
        }
        XCTAssertThrowsError(try image.writeJSON(1, to: "../escape.json"))
        XCTAssertThrowsError(try image.readJSON(Int.self, from: "unknown.json"))
    }

    func testDiscardRemovesWhatWasWritten() throws {
        let path = root + "/fresh/image"
        let image = try ImageDirectory.create(at: path)
        try image.writeJSON([1, 2], to: "a.json")
        let writer = try image.pageWriter(name: "pages.img", codec: .default)
        try writer.append(PageStreamTests.makeChunk(index: 1, pages: 2, kind: 1))
        image.discard()
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        XCTAssertThrowsError(try writer.append(PageStreamTests.makeChunk(index: 2, pages: 2, kind: 1)))
    }

    func testDiscardAfterCommitLeavesNoImage() throws {
        let path = root + "/image"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try write([1], "notes.txt", in: path)
        let image = try ImageDirectory.create(at: path)
        try image.writeJSON([1], to: "a.json")
        try image.commit(Manifest())
        image.discard()
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path), ["notes.txt"])
    }

    func testCommitFinishesOpenWriters() throws {
        let path = root + "/image"
        let image = try ImageDirectory.create(at: path)
        let writer = try image.pageWriter(name: "pages.img", codec: Codec(kind: .zlib, level: 6))
        try writer.append(PageStreamTests.makeChunk(index: 1, pages: 3, kind: 2))
        try image.commit(Manifest())
        let summary = try writer.finish()
        XCTAssertEqual(image.manifest.files["pages.img"], FileChecksum(size: summary.fileSize, crc32: summary.crc32))
        XCTAssertNoThrow(try ImageDirectory.open(at: path))
    }

    /// Re-seals a hand-edited manifest so that tests reach the checks behind
    /// the checksum.
    private func rechecksummed(_ bytes: [UInt8]) throws -> [UInt8] {
        try ManifestFile.seal(bytes)
    }
}
