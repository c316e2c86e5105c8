import ArgumentParser
import Checkpoint
import Codecs
import Foundation
import Ptrace

struct DumpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Checkpoint a running process into an image directory.",
        discussion: """
        Freezes every thread of the process, saves registers, signals, memory (present pages only, zero pages \
        skipped), memory layout, credentials, limits and open files, then kills the process (or, with \
        --leave-running, lets it carry on). A dump that fails leaves the process running as it was.

        The whole tree under the PID is dumped: children, grandchildren, zombies, sessions and process groups, \
        memory shared among them (saved once), and open files shared among them. docs/SUPPORT.md lists every \
        kind of file and memory crtool handles; anything else stops the dump with a message naming the pid, the \
        fd and what it is, and the tree is left running as it was.
        """
    )

    @Option(name: [.customShort("t"), .customLong("tree")], help: "PID of the process to dump.")
    var pid: Int32

    @Option(name: [.customShort("D"), .customLong("images-dir")], help: "Directory to write the image into (created 0700).")
    var directory: String

    @Flag(name: [.customShort("R"), .customLong("leave-running")], help: "Let the process carry on after the dump.")
    var leaveRunning = false

    @Option(name: .long, help: "Page codec: none, zlib[:1-9] or zstd[:1-19].")
    var compress: String = "zstd:1"

    @Flag(name: .long, help: "Accepted for CRIU compatibility: terminals are saved by path.")
    var shellJob = false

    @Flag(name: [.short, .long], help: "Say more: per-thread state such as the system call a thread was stopped in.")
    var verbose = false

    @Flag(name: [.short, .long], help: "No progress and no summary.")
    var quiet = false

    func run() throws {
        let codec: Codec
        do {
            codec = try Codec(parsing: compress)
        } catch {
            throw ValidationError("\(error)")
        }
        var options = DumpOptions(pid: pid, directory: directory)
        options.leaveRunning = leaveRunning
        options.codec = codec
        options.quiet = quiet
        let report: DumpReport
        do {
            report = try TracerThread.run { try Dumper.dump(options) }
        } catch {
            throw fail("dump", error)
        }
        if quiet { return }
        if verbose {
            for s in report.stoppedIn {
                print("pid \(s.pid) thread \(s.tid) was stopped in \(s.syscall)")
            }
        }
        print(DumpSummary.line(report, directory: directory))
    }
}

enum DumpSummary {
    static func line(_ r: DumpReport, directory: String) -> String {
        let ms = String(format: "%.1f ms", r.frozenSeconds * 1000)
        let total = String(format: "%.2f s", r.totalSeconds)
        let rate = r.totalSeconds > 0 ? ByteCount.format(UInt64(Double(r.bytesRead) / r.totalSeconds)) + "/s" : "-"
        let tree = r.processes > 1 || r.zombies > 0 ? "\(r.processes) processes\(r.zombies > 0 ? " and \(r.zombies) zombies" : ""), " : ""
        return "dumped pid \(r.pid) to \(directory): \(tree)\(r.threads) thread\(r.threads == 1 ? "" : "s"), \(r.vmas) VMAs, "
            + "read \(ByteCount.format(r.bytesRead)), wrote \(ByteCount.format(r.bytesWritten)) (\(r.codec)), "
            + "\(r.zeroPages) zero pages skipped, frozen \(ms), total \(total) (\(rate)); "
            + (r.leftRunning ? "process left running" : "process killed")
    }
}
