import Foundation
import Glibc

/// Directory operations for images, with errors that carry path and errno
/// and permissions set explicitly whatever the umask.
enum FileSystem {
    /// `path` taken from the working directory unless absolute.
    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    /// Creates `path` and missing parents, each 0700; returns whether the
    /// last component was created (so a failed dump may remove it again).
    @discardableResult
    static func makeDirectories(_ path: String) throws -> Bool {
        let full = absolute(path)
        var current = ""
        var createdLast = false
        for component in full.split(separator: "/") {
            current += "/" + component
            var info = stat()
            if lstat(current, &info) == 0 {
                createdLast = false
                continue
            }
            if mkdir(current, 0o700) != 0 {
                if errno == EEXIST { createdLast = false; continue }
                throw ImageIOError(path: current, operation: "mkdir", errno: errno)
            }
            guard chmod(current, 0o700) == 0 else { throw ImageIOError(path: current, operation: "chmod", errno: errno) }
            createdLast = true
        }
        guard isDirectory(full) else { throw ImageIOError(path: path, operation: "open directory", errno: ENOTDIR) }
        return createdLast
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }

    /// The path with links and dots resolved (the path itself when it
    /// cannot be), to tell whether two names lead to one directory.
    static func canonical(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// `path` taken relative to `directory` unless absolute, with "." and
    /// ".." resolved by name: `directory` may not exist yet.
    static func resolve(_ path: String, relativeTo directory: String) -> String {
        let joined = path.hasPrefix("/") ? path : absolute(directory) + "/" + path
        var parts: [Substring] = []
        for part in joined.split(separator: "/") {
            if part == "." { continue }
            if part == ".." { _ = parts.popLast(); continue }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    static func isRegularFile(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFREG
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    static func requireWritableDirectory(_ path: String) throws {
        guard access(path, W_OK | X_OK) == 0 else {
            throw ImageIOError(path: path, operation: "write into directory", errno: errno)
        }
    }

    static func list(_ path: String) throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: path)
        } catch {
            throw ImageIOError(path: path, operation: "list directory", errno: (error as NSError).underlyingErrorCode ?? EIO)
        }
    }

    static func remove(_ path: String) throws {
        guard unlink(path) == 0 || errno == ENOENT else {
            throw ImageIOError(path: path, operation: "remove", errno: errno)
        }
    }

    static func rename(_ from: String, to: String) throws {
        guard Glibc.rename(from, to) == 0 else {
            throw ImageIOError(path: to, operation: "rename \(from) to", errno: errno)
        }
    }

    /// Makes a rename inside the directory durable.
    static func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw ImageIOError(path: path, operation: "open directory", errno: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw ImageIOError(path: path, operation: "fsync directory", errno: errno) }
    }
}

private extension NSError {
    var underlyingErrorCode: Int32? {
        if domain == NSPOSIXErrorDomain { return Int32(code) }
        return (userInfo[NSUnderlyingErrorKey] as? NSError)?.underlyingErrorCode
    }
}
