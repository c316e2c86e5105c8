import Glibc
import Ptrace

/// A file descriptor with positioned reads and writes that report failures
/// with the path and errno.
///
/// Positioned I/O (pread/pwrite) lets several threads use one descriptor at
/// once without sharing a file offset.
final class ImageFile: @unchecked Sendable {
    let path: String
    private(set) var descriptor: Int32

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    deinit {
        if descriptor >= 0 { Glibc.close(descriptor) }
    }

    /// Creates (or truncates) a file readable by its owner only: images hold
    /// process memory, secrets included. The mode is set explicitly because
    /// an existing file keeps its old mode through O_CREAT.
    static func create(_ path: String) throws -> ImageFile {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw ImageIOError(path: path, operation: "create", errno: errno) }
        let file = ImageFile(path: path, descriptor: fd)
        guard fchmod(fd, 0o600) == 0 else { throw ImageIOError(path: path, operation: "chmod", errno: errno) }
        return file
    }

    /// Opens for reading without following a symbolic link: an image must not
    /// be able to point the tool at files outside it.
    static func openForReading(_ path: String) throws -> ImageFile {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw ImageIOError(path: path, operation: "open", errno: errno) }
        return ImageFile(path: path, descriptor: fd)
    }

    /// The size, after checking that this is a regular file.
    func regularFileSize() throws -> UInt64 {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            throw ImageIOError(path: path, operation: "stat", errno: errno)
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw ImageIOError(path: path, operation: "open (not a regular file)", errno: EINVAL)
        }
        return UInt64(info.st_size)
    }

    func write(_ bytes: [UInt8], at offset: UInt64) throws {
        var pending = bytes
        var position = offset
        while !pending.isEmpty {
            let written = pwrite(descriptor, pending, pending.count, off_t(position))
            if written < 0 {
                if errno == EINTR { continue }
                throw ImageIOError(path: path, operation: "write", errno: errno)
            }
            if written == 0 {
                throw ImageIOError(path: path, operation: "write", errno: EIO)
            }
            // Short writes are rare (a nearly full disk); copying the rest
            // then costs nothing that matters.
            pending = Array(pending[written...])
            position += UInt64(written)
        }
    }

    /// A read-only mapping of the first `size` bytes.
    func mapping(size: UInt64) throws -> MappedFile {
        do {
            return try MappedFile(fd: descriptor, size: Int(size), path: path)
        } catch let error as SystemError {
            throw ImageIOError(path: path, operation: "map", errno: error.errno)
        }
    }

    /// Reads up to `count` bytes; fewer only at the end of the file.
    func read(count: Int, at offset: UInt64) throws -> [UInt8] {
        do {
            return try LocalFile.read(descriptor, upTo: count, at: offset)
        } catch let error as SystemError {
            throw ImageIOError(path: path, operation: "read", errno: error.errno)
        }
    }

    /// Reads exactly `count` bytes into the start of `buffer`, which the
    /// caller reuses from block to block.
    func read(into buffer: inout [UInt8], count: Int, at offset: UInt64) throws {
        do {
            try LocalFile.read(descriptor, into: &buffer, count: count, at: offset)
        } catch let error as SystemError {
            throw ImageIOError(path: path, operation: "read", errno: error.errno)
        }
    }

    /// Allocates the blocks of bytes `start..<end`, making the file at
    /// least `end` long until `truncate`: a write into blocks allocated
    /// already skips the per-block work of delayed allocation (on ext4 a
    /// quarter of the time of a write into the page cache). Best effort:
    /// false on a file system without fallocate or without the room, and
    /// the caller writes on without (whatever a failed call allocated
    /// past the data goes with the final `truncate`).
    func allocate(from start: UInt64, to end: UInt64) -> Bool {
        guard end > start else { return true }
        return (try? LocalFile.allocate(descriptor, at: start, bytes: end - start)) != nil
    }

    func truncate(to size: UInt64) throws {
        guard ftruncate(descriptor, off_t(size)) == 0 else { throw ImageIOError(path: path, operation: "truncate", errno: errno) }
    }

    func sync() throws {
        guard fsync(descriptor) == 0 else { throw ImageIOError(path: path, operation: "fsync", errno: errno) }
    }

    /// Closing can report a failed delayed write (NFS, quotas), so it throws.
    func close() throws {
        guard descriptor >= 0 else { return }
        let fd = descriptor
        descriptor = -1
        guard Glibc.close(fd) == 0 else { throw ImageIOError(path: path, operation: "close", errno: errno) }
    }
}
