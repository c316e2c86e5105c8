import ArgumentParser
import Checkpoint
import Foundation
import Ptrace

struct PreDumpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pre-dump",
        abstract: "Copy a running tree's memory ahead of a dump, and track what it writes after.",
        discussion: """
        Freezes the tree under PID only while its pages are read, then lets it run on with its memory \
        write-tracked (userfaultfd write protection; no soft-dirty bits needed). A later \
        `crtool dump --prev-images-dir DIR` reads and stores only the pages written since, so the tree is \
        frozen for less time and the image is smaller; a pre-dump on top of another (--prev-images-dir) \
        narrows that further. The image holds pages only and is not restored by itself: restore the dump. \
        The tracking is held by a crtool-keeper process, which the next image on top of this one ends; \
        killing it ends the tracking, and the next dump then reads every page again.
        """
    )

    @Option(name: [.customShort("t"), .customLong("tree")], help: "PID of the root of the tree.")
    var pid: Int32

    @Option(name: [.customShort("D"), .customLong("images-dir")], help: "Directory to write the pre-dump into (created 0700).")
    var directory: String

    @Option(name: .long, help: "The image to make this one on, relative to -D unless absolute: a pre-dump, or a dump made with --leave-running --track-mem.")
    var prevImagesDir: String?

    @Flag(name: .long, help: "Accepted for CRIU compatibility: a pre-dump always tracks the tree's writes.")
    var trackMem = false

    @OptionGroup var pageAndFreeze: PageAndFreezeOptions

    @OptionGroup var actionScripts: ActionScriptOptions

    @Flag(name: .long, help: "Print the pre-dump's statistics at its end, one to a line, even with -q (CRIU's --display-stats): processes, frozen and total time, each phase's time, pages stored and taken from the parent image, bytes read and written.")
    var displayStats = false

    @Flag(name: [.short, .long], help: "Say more: how long each phase took.")
    var verbose = false

    @Flag(name: [.short, .long], help: "No progress and no summary.")
    var quiet = false

    @Option(name: [.customShort("o"), .customLong("log-file")], help: "Also write everything about this run (what -v says, warnings, the summary or the error) to this file, relative to -D unless absolute, even with -q.")
    var logFile: String?

    func run() throws {
        var options = PreDumpOptions(pid: pid, directory: directory)
        options.codec = try pageAndFreeze.codec()
        options.freezeTimeout = pageAndFreeze.timeout
        options.freezeCgroup = pageAndFreeze.freezeCgroup
        options.parent = prevImagesDir
        options.quiet = quiet
        options.actionScripts = actionScripts.scripts(imagesDirectory: directory)
        let log = try RunLog(option: logFile, imagesDirectory: directory)
        let report = try runTraced("pre-dump", log: log, holdingProcesses: true) { try PreDumper.preDump(options) }
        defer { log.write() }
        for note in report.notes { log.add("note: \(note)", printed: !quiet, onStderr: true) }
        log.add(PhaseLine.format(report.phases), printed: verbose && !quiet)
        log.add(Self.summary(report), printed: !quiet)
        if displayStats { log.add(Statistics.preDump(report), printed: true) }
    }

    static func summary(_ r: PreDumpReport) -> String {
        let ms = String(format: "%.1f ms", r.frozenSeconds * 1000)
        let total = String(format: "%.2f s", r.totalSeconds)
        return "pre-dumped pid \(r.pid)\(r.processes > 1 ? " (\(r.processes) processes)" : ""): "
            + "read \(ByteCount.format(r.bytesRead)), wrote \(ByteCount.format(r.bytesWritten))"
            + (r.pagesInherited > 0 ? ", \(ByteCount.format(r.pagesInherited * 4096)) unwritten since the parent taken from it" : "")
            + ", frozen \(ms), total \(total); \(r.trackedVMAs) VMAs write-tracked by crtool-keeper pid \(r.keeperPid.map(String.init) ?? "?")"
            + "; process left running"
    }
}
