import ArgumentParser
import Foundation
import Glibc

/// The log a command writes with -o/--log-file, as CRIU's users keep one
/// beside each image: what was asked, every warning and note, the details
/// -v would print, and the summary or the error, whatever -q and -v say
/// about the terminal. A path that is not absolute is taken in the image
/// directory, so a failed dump leaves its reason where its image would have
/// been. Written 0600 (it may name files and processes), its directory
/// made 0700 when missing.
final class RunLog {
    let path: String?
    private var lines: [String] = []

    init(option: String?, imagesDirectory: String) throws {
        path = option.map { $0.hasPrefix("/") ? $0 : imagesDirectory + "/" + $0 }
        guard let path else { return }
        let name = (path as NSString).lastPathComponent
        let folder = ((path as NSString).deletingLastPathComponent as NSString).standardizingPath
        if folder == (imagesDirectory as NSString).standardizingPath, name.hasSuffix(".json") || name.hasSuffix(".img") {
            throw ValidationError("--log-file \(option!) would be taken for a file of the image in \(imagesDirectory); name it otherwise, such as dump.log")
        }
        var system = utsname()
        uname(&system)
        let release = withUnsafeBytes(of: &system.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let version = Crtool.configuration.version
        lines.append("\(CommandLine.arguments.joined(separator: " "))")
        lines.append("crtool \(version) on Linux \(release), started \(ISO8601DateFormatter().string(from: Date()))")
    }

    func add(_ line: String) {
        if path != nil { lines.append(line) }
    }

    /// Adds `line`, and prints it as well when `printed` (-q and -v decide
    /// that for the terminal, never for the log): on stderr, or stdout.
    func add(_ line: String, printed: Bool, onStderr: Bool = false) {
        add(line)
        guard printed else { return }
        if onStderr { printError(line) } else { print(line) }
    }

    /// Writes what was added so far; called again, it writes the file anew
    /// with the lines added since. A log that cannot be written is a
    /// warning: the dump or restore it describes stands.
    func write() {
        guard let path else { return }
        do {
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty, !FileManager.default.fileExists(atPath: directory) {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            }
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
            try handle.write(contentsOf: Data((lines.joined(separator: "\n") + "\n").utf8))
        } catch {
            printError("warning: cannot write the log \(path): \(error.localizedDescription)")
        }
    }

    /// Logs the failure `fail` reports for `command`, and writes the log.
    func failed(_ command: String, _ error: Error) {
        add("crtool \(command): error: \(error)")
        write()
    }
}
