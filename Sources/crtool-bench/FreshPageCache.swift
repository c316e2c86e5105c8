import Foundation

/// Keeps the virtual machine's memory handling out of dump timings.
///
/// With free page reporting (virtio-balloon), free blocks of 2 MiB and up
/// are handed back to the host about two seconds after they are freed, and
/// the next touch of such a block faults on the host. The page cache takes
/// large folios from exactly those blocks, so a dump writing its image into
/// memory that has been free for a while copies at 250-650 MiB/s instead of
/// GiB/s, and mostly measures the host.
///
/// Writing a file of the image's size beside the image and deleting it just
/// before the dump leaves that many large blocks freed a moment ago, which
/// the kernel hands out before reported ones. Restores are not helped this
/// way (measured), so only dumps are prepared.
enum FreshPageCache {
    static let chunkBytes = 8 << 20

    static func recycle(mebibytes: Int, in directory: String) throws {
        let path = directory + "/page-cache-warming"
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw BenchError("cannot create \(path)")
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        let chunk = Data(repeating: 1, count: chunkBytes)
        for _ in 0..<(mebibytes << 20) / chunkBytes {
            try handle.write(contentsOf: chunk)
        }
    }
}
