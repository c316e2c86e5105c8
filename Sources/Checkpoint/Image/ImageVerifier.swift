import Codecs
import Foundation
import Ptrace

/// The checks `ImageDirectory.open` runs before an image is trusted.
struct ImageVerifier {
    /// JSON metadata is small; a bigger file is damage or an attack.
    static let maxJSONSize = 256 << 20

    let directory: String

    /// Page files at least this big keep the mapping their CRC was read
    /// through (`verifiedMappings`); smaller ones cost little to map again.
    static let keptMappingMinimum: UInt64 = 4 << 20

    /// The mappings of the page files `verify` read whole, by file name:
    /// a restore copies pages out of the same mapping, so the kernel fills
    /// its page tables once, not once to verify and again to restore.
    private(set) var verifiedMappings: [String: MappedFile] = [:]

    mutating func verify(contents: Bool) throws -> Manifest {
        guard FileSystem.isDirectory(directory) else {
            throw ImageIOError(path: directory, operation: "open image directory", errno: FileSystem.exists(directory) ? ENOTDIR : ENOENT)
        }
        let manifest = try readManifest()
        try checkProcesses(manifest.processes)
        for name in manifest.files.keys.sorted() {
            if let problem = ImageDirectory.problem(withName: name) {
                throw ImageError(file: ManifestFile.name, field: "files[\"\(name)\"]", reason: problem)
            }
            try verifyFile(name, against: manifest.files[name]!, contents: contents)
        }
        for name in try FileSystem.list(directory).sorted()
        where ImageDirectory.isImageFileName(name) && manifest.files[name] == nil {
            throw ImageError(file: name, field: "name", reason: "present in the image directory but not listed in manifest.json")
        }
        return manifest
    }

    static func check(_ name: String, size: UInt64, crc32: UInt32, against expected: FileChecksum) throws {
        guard size == expected.size else {
            throw ImageError(file: name, field: "size", reason: "\(size) bytes, manifest.json records \(expected.size)")
        }
        guard crc32 == expected.crc32 else {
            throw ImageError(file: name, field: "crc32", reason: "computed \(hex32(crc32)), manifest.json records \(hex32(expected.crc32))")
        }
    }

    private func readManifest() throws -> Manifest {
        let path = directory + "/" + ManifestFile.name
        let file: ImageFile
        do {
            file = try ImageFile.openForReading(path)
        } catch let error as ImageIOError where error.errno == ENOENT {
            throw ImageError(file: ManifestFile.name, field: "file", reason: "missing: \(directory) holds no complete image")
        } catch let error as ImageIOError where error.errno == ELOOP {
            throw ImageError(file: ManifestFile.name, field: "file", reason: "a symbolic link, not a regular file")
        }
        let size = try regularSize(file, name: ManifestFile.name)
        guard size <= UInt64(ManifestFile.maxSize) else {
            throw ImageError(file: ManifestFile.name, field: "size", reason: "\(size) bytes is too large for a manifest")
        }
        return try ManifestFile.decode(try file.read(count: Int(size), at: 0))
    }

    private func checkProcesses(_ processes: [ProcessEntry]) throws {
        var seen = Set<Int32>()
        for (index, process) in processes.enumerated() {
            guard process.pid > 0 else {
                throw ImageError(file: ManifestFile.name, field: "processes[\(index)].pid", reason: "\(process.pid) is not a valid process id")
            }
            guard seen.insert(process.pid).inserted else {
                throw ImageError(file: ManifestFile.name, field: "processes[\(index)].pid", reason: "\(process.pid) appears twice")
            }
        }
    }

    private mutating func verifyFile(_ name: String, against expected: FileChecksum, contents: Bool) throws {
        let file: ImageFile
        do {
            file = try ImageFile.openForReading(directory + "/" + name)
        } catch let error as ImageIOError where error.errno == ENOENT {
            throw ImageError(file: name, field: "file", reason: "missing: listed in manifest.json but not in the directory")
        } catch let error as ImageIOError where error.errno == ELOOP {
            throw ImageError(file: name, field: "file", reason: "a symbolic link, not a regular file")
        }
        let size = try regularSize(file, name: name)
        guard size == expected.size else {
            throw ImageError(file: name, field: "size", reason: "\(size) bytes, manifest.json records \(expected.size)")
        }
        let isPageFile = name.hasSuffix(".img")
        guard contents || !isPageFile else { return }
        let mapping = size > 0 ? try file.mapping(size: size) : nil
        let crc32 = try mapping.map { try WholeFileChecksum.crc32(of: $0, path: file.path) } ?? 0
        try Self.check(name, size: size, crc32: crc32, against: expected)
        if isPageFile, let mapping, size >= Self.keptMappingMinimum { verifiedMappings[name] = mapping }
    }

    /// Symbolic links and devices are refused: an image is plain files.
    private func regularSize(_ file: ImageFile, name: String) throws -> UInt64 {
        do {
            return try file.regularFileSize()
        } catch let error as ImageIOError where error.errno == EINVAL {
            throw ImageError(file: name, field: "file", reason: "not a regular file")
        }
    }
}
