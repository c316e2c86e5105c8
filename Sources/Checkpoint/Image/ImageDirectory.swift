import Codecs
import Foundation
import Ptrace

/// An image directory: the manifest and the files it lists.
///
/// Created for a dump, files are written into it with their checksums
/// recorded and `commit` writes the manifest last, atomically, so a
/// directory either holds a complete image or no manifest at all. Opened
/// for a restore, everything the manifest lists is verified before any of
/// it is used.
public final class ImageDirectory: @unchecked Sendable {
    public let path: String
    private let lock = NSLock()
    private var currentManifest: Manifest
    /// Files this instance wrote, with their checksums.
    private var written: [String: FileChecksum] = [:]
    /// Files this instance created, complete or not: what `discard` removes.
    private var created: Set<String> = []
    private var committed = false
    private var writers: [String: PageStreamWriter] = [:]
    private let createdDirectory: Bool
    /// Whether open() checked every byte of every file against its CRC.
    private let contentsVerified: Bool
    /// The mappings open() verified large page files through, for their
    /// readers (`ImageVerifier.verifiedMappings`).
    private let verifiedMappings: [String: MappedFile]

    private init(path: String, manifest: Manifest, createdDirectory: Bool, contentsVerified: Bool = false,
                 verifiedMappings: [String: MappedFile] = [:]) {
        self.path = path
        self.currentManifest = manifest
        self.createdDirectory = createdDirectory
        self.contentsVerified = contentsVerified
        self.verifiedMappings = verifiedMappings
    }

    /// The committed manifest, or (before the first commit of a new image)
    /// one describing this host with no processes or files yet.
    public var manifest: Manifest {
        lock.lock()
        defer { lock.unlock() }
        return currentManifest
    }

    /// Prepares a directory for a new image: creates it (and missing parents)
    /// with mode 0700 if needed, and checks that it is writable. A directory
    /// that already holds an image is refused unless `overwrite` is set; then
    /// its manifest goes first (so no mix of old and new is ever taken for an
    /// image) and its .json and .img files after it.
    public static func create(at path: String, overwrite: Bool = false) throws -> ImageDirectory {
        let created = try FileSystem.makeDirectories(path)
        try FileSystem.requireWritableDirectory(path)
        let manifestPath = path + "/" + ManifestFile.name
        if FileSystem.exists(manifestPath) {
            guard overwrite else {
                throw ImageIOError(
                    path: path, operation: "create image in", errno: EEXIST,
                    hint: "it already holds an image (manifest.json): remove that image first or choose another directory")
            }
            try FileSystem.remove(manifestPath)
            for name in try FileSystem.list(path) where isImageFileName(name) || name == temporaryManifestName {
                try FileSystem.remove(path + "/" + name)
            }
        }
        // Statistics of an earlier dump here describe no image of this one.
        if FileSystem.exists(path + "/" + DumpStatistics.fileName) { try FileSystem.remove(path + "/" + DumpStatistics.fileName) }
        return ImageDirectory(path: path, manifest: Manifest(), createdDirectory: created)
    }

    /// Opens an image and verifies it: the manifest's own checksum and
    /// format version, then every listed file's presence, size and CRC, and
    /// that no image file is present without being listed. With
    /// `verifyContents` false the CRCs of page files are left to the reads
    /// (lazy restore reads only what it needs); sizes are still checked.
    public static func open(at path: String, verifyContents: Bool = true) throws -> ImageDirectory {
        var verifier = ImageVerifier(directory: path)
        let manifest = try verifier.verify(contents: verifyContents)
        return ImageDirectory(path: path, manifest: manifest, createdDirectory: false, contentsVerified: verifyContents,
                              verifiedMappings: verifier.verifiedMappings)
    }

    /// Size and CRC of the committed manifest.json, which an image made
    /// on top of this one records to know its parent again.
    public func manifestChecksum() throws -> FileChecksum {
        let file = try ImageFile.openForReading(filePath(ManifestFile.name))
        let bytes = try file.read(count: ManifestFile.maxSize + 1, at: 0)
        return FileChecksum(size: UInt64(bytes.count), crc32: CRC32.checksum(bytes))
    }

    /// The path of a file of the image.
    public func filePath(_ name: String) -> String {
        path + "/" + name
    }

    /// Writes `value` as pretty-printed JSON with sorted keys, so images
    /// diff well, and records its checksum for the manifest.
    public func writeJSON<T: Encodable>(_ value: T, to name: String) throws {
        try Self.checkName(name)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let bytes = [UInt8](try encoder.encode(value))
        noteCreated(name)
        let file = try ImageFile.create(filePath(name))
        try file.write(bytes, at: 0)
        try file.close()
        record(name, FileChecksum(size: UInt64(bytes.count), crc32: CRC32.checksum(bytes)))
    }

    /// Reads a JSON file after checking it against its recorded checksum
    /// again (it may have changed since the image was opened).
    public func readJSON<T: Decodable>(_ type: T.Type, from name: String) throws -> T {
        let expected = try checksum(of: name)
        guard expected.size <= UInt64(ImageVerifier.maxJSONSize) else {
            throw ImageError(file: name, field: "size", reason: "\(expected.size) bytes is too large for a metadata file")
        }
        let file = try ImageFile.openForReading(filePath(name))
        let bytes = try file.read(count: Int(expected.size) + 1, at: 0)
        try ImageVerifier.check(name, size: UInt64(bytes.count), crc32: CRC32.checksum(bytes), against: expected)
        do {
            return try JSONDecoder().decode(type, from: Data(bytes))
        } catch let error as DecodingError {
            throw ImageError(file: name, decoding: error)
        }
    }

    /// A writer for a new page stream; the checksum of each of its files is
    /// recorded when it finishes (at the latest, by `commit`). With more
    /// than one part, the stream is striped over `name` and the names
    /// `partName` gives, so that as many threads can write at once.
    public func pageWriter(name: String, codec: Codec, parts: Int = 1) throws -> PageStreamWriter {
        let names = [name] + (1..<max(1, parts)).map { Self.partName(name, $0) }
        for n in names { try Self.checkName(n) }
        lock.lock()
        let previous = writers[name]
        lock.unlock()
        if let previous, !previous.isFinished {
            throw ImageIOError(path: filePath(name), operation: "create page file (a writer for it is still open)", errno: EBUSY)
        }
        for n in names { noteCreated(n) }
        let writer = try PageStreamWriter(paths: names.map(filePath), codec: codec) { [weak self] parts in
            for part in parts {
                self?.record(part.name, FileChecksum(size: part.summary.fileSize, crc32: part.summary.crc32))
            }
        }
        lock.lock()
        writers[name] = writer
        lock.unlock()
        return writer
    }

    /// A reader for a listed page stream: the file `name` and the parts
    /// after it that the image lists, each of whose headers must agree
    /// with the size and CRC recorded for it.
    public func pageReader(name: String) throws -> PageStreamReader {
        var names = [name]
        while isListed(Self.partName(name, names.count)) { names.append(Self.partName(name, names.count)) }
        var expected: [FileChecksum] = []
        for n in names { expected.append(try checksum(of: n)) }
        let reader = try PageStreamReader(parts: names.map { (filePath($0), $0) }, verifiedMappings: verifiedMappings)
        reader.wholeFileVerified = contentsVerified
        for (part, checksum) in zip(reader.partSummaries, expected) {
            try ImageVerifier.check(part.name, size: part.summary.fileSize, crc32: part.summary.crc32, against: checksum)
        }
        return reader
    }

    /// The file name of part `index` (from 1) of the page stream `name`:
    /// "pages-42.img" gives "pages-42.1.img".
    static func partName(_ name: String, _ index: Int) -> String {
        if let dot = name.lastIndex(of: "."), dot != name.startIndex {
            return "\(name[..<dot]).\(index)\(name[dot...])"
        }
        return "\(name).\(index)"
    }

    private func isListed(_ name: String) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return written[name] != nil || currentManifest.files[name] != nil
    }

    /// Finishes any open page writers, then writes manifest.json listing
    /// every file written, through a temporary file and a rename so the
    /// manifest appears complete or not at all. Written 0600 like the rest.
    public func commit(_ manifest: Manifest) throws {
        lock.lock()
        let open = Array(writers.values)
        lock.unlock()
        for writer in open {
            _ = try writer.finish()
        }
        var complete = manifest
        lock.lock()
        complete.files = written
        lock.unlock()
        let bytes = try ManifestFile.encode(complete)
        let temporary = filePath(Self.temporaryManifestName)
        let file = try ImageFile.create(temporary)
        try file.write(bytes, at: 0)
        try file.sync()
        try file.close()
        try FileSystem.rename(temporary, to: filePath(ManifestFile.name))
        try FileSystem.syncDirectory(path)
        lock.lock()
        currentManifest = complete
        committed = true
        lock.unlock()
    }

    /// Cleans up after a failed dump: stops open page writers and removes
    /// every file this instance wrote (its manifest first, so what remains
    /// never passes for an image), then the directory if it created it and
    /// nothing else is left in it. Errors are ignored: this runs while
    /// another error is already being reported.
    public func discard() {
        lock.lock()
        let open = Array(writers.values)
        let names = created
        let removeManifest = committed
        created = []
        written = [:]
        writers = [:]
        committed = false
        lock.unlock()
        if removeManifest { try? FileSystem.remove(filePath(ManifestFile.name)) }
        for writer in open { writer.abandon() }
        for name in names { try? FileSystem.remove(filePath(name)) }
        try? FileSystem.remove(filePath(Self.temporaryManifestName))
        if createdDirectory, (try? FileSystem.list(path))?.isEmpty == true {
            rmdir(path)
        }
    }

    private func noteCreated(_ name: String) {
        lock.lock()
        created.insert(name)
        lock.unlock()
    }

    private func record(_ name: String, _ checksum: FileChecksum) {
        lock.lock()
        written[name] = checksum
        lock.unlock()
    }

    /// What a file must match: as written by this instance, or as listed in
    /// the manifest. Files in neither are not part of the image.
    private func checksum(of name: String) throws -> FileChecksum {
        try Self.checkName(name)
        lock.lock()
        defer { lock.unlock() }
        if let checksum = written[name] ?? currentManifest.files[name] { return checksum }
        throw ImageError(file: name, field: "name", reason: "not a file of this image (not listed in manifest.json)")
    }

    static let temporaryManifestName = ".manifest.json.tmp"

    /// Files whose absence from the manifest means the image is incomplete.
    static func isImageFileName(_ name: String) -> Bool {
        !name.hasPrefix(".") && name != ManifestFile.name && (name.hasSuffix(".json") || name.hasSuffix(".img"))
    }

    /// Plain names only: a manifest from elsewhere must not make the tool
    /// read or write outside the image directory.
    static func checkName(_ name: String) throws {
        if let problem = problem(withName: name) {
            throw ImageError(file: name, field: "name", reason: problem)
        }
    }

    static func problem(withName name: String) -> String? {
        if name.isEmpty { return "empty file name" }
        if name.utf8.count > 255 { return "file name longer than 255 bytes" }
        if name.contains("/") || name.contains("\0") { return "not a plain file name" }
        if name.hasPrefix(".") { return "hidden names are reserved" }
        if name == ManifestFile.name { return "reserved for the manifest" }
        return nil
    }
}
