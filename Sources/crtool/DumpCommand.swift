import ArgumentParser
import Checkpoint
import Foundation
import Ptrace

struct DumpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Checkpoint a running process tree into an image directory.",
        discussion: """
        Freezes every thread of every process in the tree under PID, saves registers, signals, memory (present \
        pages only, zero pages skipped), memory layout, credentials, limits and open files, then kills the tree \
        (or, with --leave-running, lets it carry on). A dump that fails leaves every process running as it was.

        Supported: children, grandchildren, zombies, sessions and process groups; threads; memory shared among \
        the processes (shared anonymous memory, memfds, files deleted while mapped, System V shared memory, \
        semaphores and message queues), each object saved once; open file descriptions shared between \
        processes; regular files (also deleted ones), directories, character devices, terminals and pty pairs; \
        pipes and FIFOs with their buffered bytes; unix sockets (pairs, listeners, connected pairs, queued data \
        and descriptors in flight); TCP listeners and UDP sockets; established TCP connections with \
        --tcp-established; eventfd, signalfd, timerfd, epoll, inotify, fanotify, POSIX message queues (with their messages); POSIX and interval timers; seccomp \
        filters, capabilities, no_new_privs; PID namespaces, also one inside another, dumped from the outermost one's first \
        process or its parent (every process keeps its pid in each); UTS namespaces (with their names), IPC namespaces (with their System \
        V objects), network namespaces holding a loopback device, veth pairs to crtool's and tun and tap devices (with the sockets \
        and tun queues made in them) or any network namespace left out with --external net[INODE]:KEY for the restore to be given one (as UTS and IPC namespaces a pod's \
        containers share can be, uts[INODE]:KEY and ipc[INODE]:KEY), mount namespaces made from crtool's (with their bind mounts, flags and what their tmpfs mounts \
        hold, and a root of their own entered with pivot_root, as containers have), cgroup and time namespaces, \
        and user namespaces one level below crtool's with the namespaces made inside them (unshare --user, \
        bwrap --unshare-user, runc's rootless spec) of the tree's own.

        Refused with a message naming the pid, the fd and what it is: TCP connections without \
        --tcp-established, sockets or pipes shared with processes outside the tree without --hold-external, \
        io_uring, other socket families and devices, user namespaces inside another, network namespaces with \
        other devices unless left out, mounts crtool cannot make again. docs/SUPPORT.md has the details.
        """
    )

    @Option(name: [.customShort("t"), .customLong("tree")], help: "PID of the root of the tree to dump.")
    var pid: Int32

    @Option(name: [.customShort("D"), .customLong("images-dir")], help: "Directory to write the image into (created 0700).")
    var directory: String

    @Flag(name: [.customShort("R"), .customLong("leave-running")], help: "Let the process carry on after the dump.")
    var leaveRunning = false

    @Flag(name: [.customShort("s"), .long], help: "Leave the process stopped (SIGSTOP) after the dump: kill it once the restore succeeded, or SIGCONT it.")
    var leaveStopped = false

    @Flag(name: .long, help: "Carry TCP connections over (being made, established or closing; TCP repair mode); with the network lock, new connections to the tree's listeners wait for the restore.")
    var tcpEstablished = false

    @Option(name: .long, help: "With --tcp-established: nftables (the default) holds the connections' packets from the dump to the restore, so peers are not reset; skip does not (peers must keep quiet).")
    var networkLock: String = "nftables"

    @Flag(name: .long, help: "Keep the pipes and sockets the tree shares with processes outside it (a reader of its output, a server it is connected to, its listeners and TCP connections unless --tcp-established takes them) open in a crtool-keeper process until the restore on this host takes them back: the outside processes see no end of file or hang-up, and clients connecting meanwhile wait.")
    var holdExternal = false

    @OptionGroup var actionScripts: ActionScriptOptions

    @Option(name: .long, help: ArgumentHelp("Leave this file out of the image, for restore --inherit-fd to give the process another in its place: pipe:[INODE], socket:[INODE] or a path, as /proc/PID/fd names it (CRIU's name). For a pipe or socket shared with a process outside the tree that will not be there at the restore. Or mnt[MOUNTPOINT]:KEY, a file or directory bound into the tree's mount namespace (see --ext-mount-map). Or net[INODE]:KEY, a network namespace of the tree's (/proc/PID/ns/net names its inode) that its runtime made and will make again: nothing of it is saved, and restore --inherit-fd fd[N]:KEY gives the one to restore into. Or uts[INODE]:KEY or ipc[INODE]:KEY, a UTS or IPC namespace the tree shares with processes outside it (a pod's): its names and limits are not saved, an IPC namespace's System V objects are, and the restore enters the one given, taking the objects still there as they are. Repeatable.", valueName: "file"))
    var external: [String] = []

    @Option(name: .long, help: ArgumentHelp("Leave out the file or directory of this namespace's bound at MOUNTPOINT in the tree's mount namespace (a volume, a container's /etc/hosts): it is saved with KEY, and restore --ext-mount-map KEY:PATH must give its place. The same as --external mnt[MOUNTPOINT]:KEY. auto, and mnt[] with --external, are accepted and do nothing: every such bind is saved anyway. Repeatable (CRIU's name).", valueName: "MOUNTPOINT:KEY"))
    var extMountMap: [String] = []

    @Option(name: .long, help: ArgumentHelp("Accepted for CRIU compatibility, alone or with a mode: the settings of the tree's cgroups (limits, node lists) are saved for every mode but ignore, which saves none; restore --manage-cgroups chooses what is made and written.", valueName: "soft|full|strict|props|none|ignore"))
    var manageCgroups: String = CgroupManagement.soft.rawValue

    @Option(name: .long, help: "The image to make this dump on, relative to -D unless absolute: a pre-dump (crtool pre-dump) or a dump made with --leave-running --track-mem. Pages unwritten since are taken from it instead of read again. Restoring the dump needs it in place.")
    var prevImagesDir: String?

    @Flag(name: .long, help: "With --leave-running: track the tree's writes from the dump on, so that the next dump (or pre-dump) on this one with --prev-images-dir stores only the pages written since. A crtool-keeper holds the tracking until then.")
    var trackMem = false

    @Flag(name: .long, help: "With --prev-images-dir: store every page, so that the image needs no image under it; only the write tracking is taken over. Starts a series of checkpoints again: the images under it can then be deleted.")
    var full = false

    @Flag(name: [.customShort("j"), .long], help: "Accepted for CRIU compatibility: terminals are saved by path.")
    var shellJob = false

    @Flag(name: .long, help: "Accepted for CRIU compatibility: file locks and leases are always saved.")
    var fileLocks = false

    @Flag(name: .long, help: "Accepted for CRIU compatibility: a datagram socket connected to a name outside the tree (/dev/log) needs no flag, the restore connects it to that name again; a stream socket connected outside needs --hold-external or --external.")
    var extUnixSk = false

    @Flag(name: .long, help: "Accepted for CRIU compatibility: a file deleted while open is saved with its content (up to --ghost-limit), or reopened by another name it still has, so nothing is linked back into the file system.")
    var linkRemap = false

    @Option(name: .long, help: "Largest file deleted while open whose content the image carries, and the most bytes of files a tmpfs of a mount namespace of the tree's own may hold, in bytes or with K, M or G (default 64M).")
    var ghostLimit: String?

    @OptionGroup var pageAndFreeze: PageAndFreezeOptions

    @Flag(name: .long, help: "Print the dump's statistics at its end, one to a line, even with -q (CRIU's --display-stats): counts, frozen and total time, each phase's time, pages stored and skipped, bytes read and written.")
    var displayStats = false

    @Flag(name: [.short, .long], help: "Say more: per-thread state such as the system call a thread was stopped in.")
    var verbose = false

    @Flag(name: [.short, .long], help: "No progress and no summary.")
    var quiet = false

    @Option(name: [.customShort("o"), .customLong("log-file")], help: "Also write everything about this run (what -v says, warnings, the summary or the error) to this file, relative to -D unless absolute, even with -q.")
    var logFile: String?

    func run() throws {
        var options = DumpOptions(pid: pid, directory: directory)
        if let ghostLimit {
            guard let limit = ByteCount.parse(ghostLimit) else {
                throw ValidationError("--ghost-limit takes a size such as 1048576, 512K, 64M or 2G, not \(ghostLimit)")
            }
            options.ghostLimit = limit
        }
        options.freezeTimeout = pageAndFreeze.timeout
        options.freezeCgroup = pageAndFreeze.freezeCgroup
        options.leaveRunning = leaveRunning
        options.leaveStopped = leaveStopped
        options.tcpEstablished = tcpEstablished
        options.holdExternal = holdExternal
        options.savesCgroupSettings = try CgroupManagement.option(manageCgroups) != .ignore
        for text in extMountMap where !ExternalMounts.isAutomatic(text) {
            guard !text.hasPrefix("mnt["), let leftOut = ExternalMounts.LeftOut(text) else {
                throw ValidationError("--ext-mount-map \(text): a mount is left out as MOUNTPOINT:KEY, MOUNTPOINT absolute (or auto)")
            }
            options.externalMounts.append(leftOut)
        }
        for text in external {
            if text.hasPrefix("mnt[") {
                guard !ExternalMounts.isAutomatic(text) else { continue }
                guard let leftOut = ExternalMounts.LeftOut(text) else {
                    throw ValidationError("--external \(text): a mount is left out as mnt[MOUNTPOINT]:KEY, MOUNTPOINT absolute")
                }
                options.externalMounts.append(leftOut)
            } else if let leftOut = ExternalNamespaces.LeftOut(text) {
                guard ExternalNamespaces.kinds.contains(leftOut.kind) else {
                    throw ValidationError("--external \(text): crtool leaves out only network, UTS and IPC namespaces (net[INODE]:KEY, uts[INODE]:KEY, ipc[INODE]:KEY); a \(leftOut.kind.title) of the tree's is saved and made again")
                }
                options.externalNamespaces.append(leftOut)
            } else if NamespaceKind.allCases.contains(where: { text.hasPrefix($0.rawValue + "[") }) {
                throw ValidationError("--external \(text): a namespace is left out as KIND[INODE]:KEY (net[4026532245]:extRootNetNS), the key being what restore --inherit-fd fd[N]:KEY gives it by")
            } else {
                options.externals.insert(text)
            }
        }
        options.actionScripts = actionScripts.scripts(imagesDirectory: directory)
        options.parent = prevImagesDir
        options.trackMemory = trackMem
        guard !full || prevImagesDir != nil else {
            throw ValidationError("--full stores every page of a dump made on another image (--prev-images-dir), which a dump without one does anyway")
        }
        options.storeEveryPage = full
        guard ["nftables", "skip"].contains(networkLock) else {
            throw ValidationError("--network-lock takes nftables or skip, not \(networkLock)")
        }
        options.networkLock = networkLock == "nftables"
        options.codec = try pageAndFreeze.codec()
        options.quiet = quiet
        let log = try RunLog(option: logFile, imagesDirectory: directory)
        let report = try runTraced("dump", log: log, holdingProcesses: true) { try Dumper.dump(options) }
        defer { log.write() }
        for w in report.warnings { log.add("warning: \(w)", printed: !quiet, onStderr: true) }
        for note in report.notes { log.add("note: \(note)", printed: !quiet, onStderr: true) }
        for s in report.stoppedIn {
            log.add("pid \(s.pid) thread \(s.tid) was stopped in \(s.syscall)", printed: verbose && !quiet)
        }
        for s in report.steppedOutOfVDSO {
            log.add("pid \(s.pid) thread \(s.tid) was inside the vDSO; it ran \(s.instructions) instruction\(s.instructions == 1 ? "" : "s") to return from it",
                    printed: verbose && !quiet)
        }
        log.add(PhaseLine.format(report.phases), printed: verbose && !quiet)
        log.add(DumpSummary.line(report, directory: directory), printed: !quiet)
        if displayStats { log.add(Statistics.dump(report), printed: true) }
    }
}

enum DumpSummary {
    static func line(_ r: DumpReport, directory: String) -> String {
        let ms = String(format: "%.1f ms", r.frozenSeconds * 1000)
        let total = String(format: "%.2f s", r.totalSeconds)
        let rate = r.totalSeconds > 0 ? ByteCount.format(UInt64(Double(r.bytesRead) / r.totalSeconds)) + "/s" : "-"
        let tree = treeCounts(processes: r.processes, zombies: r.zombies)
        return "dumped pid \(r.pid) to \(directory): \(tree)\(r.threads) thread\(r.threads == 1 ? "" : "s"), \(r.vmas) VMAs, "
            + "read \(ByteCount.format(r.bytesRead)), wrote \(ByteCount.format(r.bytesWritten)) (\(r.codec)), "
            + "\(r.zeroPages) zero pages skipped, "
            + (r.pagesInherited > 0 ? "\(ByteCount.format(r.pagesInherited * 4096)) unwritten since the parent image taken from it, " : "")
            + (r.tcpConnections > 0 ? "\(r.tcpConnections) TCP connection\(r.tcpConnections == 1 ? "" : "s"), " : "")
            + (r.heldByKeeper > 0 ? "\(r.heldByKeeper) shared outside held by crtool-keeper pid \(r.keeperPid.map(String.init) ?? "?"), " : "")
            + "frozen \(ms), total \(total) (\(rate)); "
            + (r.leftStopped ? "process left stopped" : r.leftRunning ? "process left running" : "process killed")
            + (r.trackerKeeperPid.map { "; writes to \(r.trackedVMAs) VMAs tracked by crtool-keeper pid \($0) for the next dump on this one (--prev-images-dir)" } ?? "")
            + (r.attempts > 1 ? " (frozen \(r.attempts) times: \(r.waitedFor.joined(separator: "; ")))" : "")
    }
}
