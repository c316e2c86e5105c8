import ArgumentParser
import Checkpoint
import Foundation
import Glibc
import Ptrace

struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a process from an image directory, with the same PID and TIDs.",
        discussion: """
        The image is verified (every checksum, every field) before any process is created; a restore that \
        fails part way leaves nothing behind. Without -d crtool waits for the restored process and exits \
        with its status; with -d it leaves the process running and exits.
        """
    )

    @Option(name: [.customShort("D"), .customLong("images-dir")], help: "Image directory to restore from.")
    var directory: String

    @Flag(name: [.customShort("d"), .customLong("restore-detached")], help: "Leave the restored process running and exit.")
    var detach = false

    @Flag(name: [.customShort("j"), .long], help: "The tree was started from a shell: restore it into crtool's own session and process group when its session leader is not in the image; terminals are reopened by path.")
    var shellJob = false

    @Flag(name: [.customShort("s"), .long], help: "Leave the restored processes stopped (SIGSTOP), for a SIGCONT later.")
    var leaveStopped = false

    @Flag(name: .long, help: "Accepted for CRIU compatibility: the TCP connections an image holds (dumped with --tcp-established) always come back, unless --tcp-close resets them.")
    var tcpEstablished = false

    @Flag(name: .long, help: "Accepted for CRIU compatibility: file locks are always taken again.")
    var fileLocks = false

    @Flag(name: .long, help: "Accepted for CRIU compatibility: a datagram socket connected to a name outside the tree needs no flag to be connected to that name again.")
    var extUnixSk = false

    @Option(name: .long, help: ArgumentHelp("What of this CPU must match the CPU the image was made on: fpu (the register state its threads may hold), ins (the instruction sets its programs may have chosen code for, which they would stop on with SIGILL), both with a comma, or none.", valueName: "fpu,ins|none"))
    var cpuCap = "fpu,ins"

    @Option(name: .long, help: ArgumentHelp("When this kernel's vDSO is not the one the image's processes started with (a kernel upgraded since the dump), reach it through jumps left where the old one was (auto), refuse the image (never), or use the jumps even when it is the same (always: to try a program on them before the upgrade).", valueName: "auto|always|never"))
    var vdsoBridge = "auto"

    @Option(name: .long, help: ArgumentHelp("Give the restored processes crtool's descriptor N wherever the image has FILE: a file left out at the dump (dump --external), or any other to put in its place (a new pipe to read the output from, another log). FILE as crtool show names it: pipe:[INODE], socket:[INODE] or a path. Or the KEY of a network, UTS or IPC namespace left out at the dump (dump --external net[INODE]:KEY), N then open on the namespace to restore into (/run/netns/NAME, /proc/PID/ns/ipc). Repeatable (CRIU's name).", valueName: "fd[N]:FILE"))
    var inheritFd: [String] = []

    @Option(name: .customLong("join-ns"), help: ArgumentHelp("Put the tree's root, and the processes that shared the namespace with it, in the NS namespace that exists here instead of making the image's again: a pod's, given by a pid in it or a path (/proc/PID/ns/NS, /run/netns/NAME). NS is net, uts or ipc; the namespace keeps its own hostname, limits and loopback, an IPC namespace's System V objects the tree used are taken there as they are or made where missing, and a network namespace that had veth or tun devices cannot be joined. Repeatable (CRIU's name).", valueName: "NS:PID|PATH"))
    var joinNs: [String] = []

    @Option(name: .long, help: ArgumentHelp("The container's root file system is at DIR here (another mount of its image, as a runtime restoring it under a new name makes): for a tree whose mount namespace was rooted at a directory of this namespace's bound in and entered with pivot_root, DIR takes that directory's place, and the files the tree maps and opens are looked for there (CRIU's name).", valueName: "DIR"))
    var root: String?

    @Option(name: .long, help: ArgumentHelp("Bind PATH where the tree's mount namespace had a file or directory of this namespace's bound (a volume, a container's /etc/hosts or /etc/resolv.conf at a new place): KEY is its mount point as crtool show lists it (runc's key too), or the key dump --external mnt[MOUNTPOINT]:KEY left it out with, which must be given. Repeatable (CRIU's name).", valueName: "KEY:PATH"))
    var extMountMap: [String] = []

    @Option(name: .long, help: ArgumentHelp("CRIU's other form of --ext-mount-map: mnt[KEY]:PATH. Repeatable.", valueName: "mnt[KEY]:PATH"))
    var external: [String] = []

    @Option(name: .long, help: ArgumentHelp("Restore the tree under the cgroup PATH instead of where it was (a container under its new name, a job in another slice): the cgroup the tree was rooted at (its cgroup namespace's root, else its root process's cgroup) becomes PATH, in the hierarchy with CONTROLLER (unified for v2) or, without one, in every hierarchy no other --cgroup-root names; the tree's cgroups below it go below PATH and are made there when missing. PATH must exist. Repeatable (CRIU's name).", valueName: "[CONTROLLER:]PATH"))
    var cgroupRoot: [String] = []

    @Option(name: .long, help: ArgumentHelp("Which of the tree's cgroups the restore makes, and writes the settings the dump saved onto (limits, weights, CPU and memory node lists, controllers enabled below): soft makes the missing ones, with their settings, and leaves those that exist as they are; full also writes the settings onto those that exist; strict is full, and refuses a tree whose cgroups exist already (a --cgroup-root aside); props makes none and writes onto those that exist; none makes and writes nothing, and leaves a process whose cgroup is missing in crtool's; ignore leaves every process in crtool's cgroups. Alone it means soft (CRIU's name and modes).", valueName: "soft|full|strict|props|none|ignore"))
    var manageCgroups: String = CgroupManagement.soft.rawValue

    @Flag(name: .long, help: "Bring TCP connections back reset (the program reads ECONNRESET) instead of carrying them on: for peers that are gone.")
    var tcpClose = false

    @Flag(name: .long, help: "Check the image as a restore does before it creates anything (every checksum and field, the files, directories and devices it maps and opens on this host, the files crtool-keeper holds for it, its System V objects against this host's, the restore stub), decompress every page, and check that its ids, its listeners' and UDP sockets' addresses and the huge pages it needs are free here; create nothing. Exits 1 on the first problem.")
    var checkOnly = false

    @Flag(name: .long, help: "Print the restore's statistics at its end, one to a line, even with -q (CRIU's --display-stats): counts, total time, each phase's time, bytes of memory written; on stderr unless -d.")
    var displayStats = false

    @Flag(name: [.short, .long], help: "Print the time each phase took.")
    var verbose = false

    @Flag(name: [.short, .long], help: "No progress, no warnings and no summary.")
    var quiet = false

    @Option(name: .long, help: "Write the PID of the restored root process to this file.")
    var pidfile: String?

    @Option(name: [.customShort("o"), .customLong("log-file")], help: "Also write everything about this run (phases, warnings, the summary or the error, and the restored process's exit without -d) to this file, relative to -D unless absolute, even with -q.")
    var logFile: String?

    @OptionGroup var actionScripts: ActionScriptOptions

    /// The options a restore and its check both take from the command line.
    private func restoreOptions() throws -> RestoreOptions {
        var options = RestoreOptions(directory: directory)
        options.quiet = quiet
        options.shellJob = shellJob
        options.tcpClose = tcpClose
        options.leaveStopped = leaveStopped
        options.cpuChecks = try cpuChecks()
        options.vdsoBridge = try vdsoBridgeMode()
        options.inherited = try inheritedFiles()
        options.relocation.rootDirectory = root
        options.relocation.mountSources = try extMountMap.map { text in
            guard !text.hasPrefix("mnt["), let change = MountSourceChange(text) else {
                throw ValidationError("--ext-mount-map takes KEY:PATH, PATH absolute, not \(text)")
            }
            return change
        } + external.map { text in
            guard text.hasPrefix("mnt["), let change = MountSourceChange(text) else {
                throw ValidationError("restore --external takes mnt[KEY]:PATH, PATH absolute, not \(text)")
            }
            return change
        }
        options.relocation.cgroupRoots = try cgroupRoot.map { text in
            guard let change = CgroupRootChange(text) else {
                throw ValidationError("--cgroup-root takes [CONTROLLER:]PATH, PATH absolute and without . or .., not \(text)")
            }
            return change
        }
        options.relocation.joinedNamespaces = try joinNs.map { text in
            do {
                return try JoinedNamespace.open(text)
            } catch let e as CheckpointError {
                throw ValidationError(e.message)
            }
        }
        options.manageCgroups = try CgroupManagement.option(manageCgroups)
        if !checkOnly { options.actionScripts = actionScripts.scripts(imagesDirectory: directory) }
        return options
    }

    func run() throws {
        if checkOnly { return try runCheck() }
        let options = try restoreOptions()
        let log = try RunLog(option: logFile, imagesDirectory: directory)
        let report = try runTraced("restore", log: log, holdingProcesses: true) { try Restorer.restore(options) }
        if let pidfile {
            // The tree runs already: a pidfile that cannot be written is
            // an error to report, not a reason to undo the restore.
            do {
                try Data("\(report.pid)\n".utf8).write(to: URL(fileURLWithPath: pidfile))
            } catch {
                log.add("warning: cannot write the pid \(report.pid) to \(pidfile): \(error.localizedDescription)",
                        printed: true, onStderr: true)
            }
        }
        // What came back other than it was: the user must hear of it.
        for w in report.warnings { log.add("warning: \(w)", printed: !quiet, onStderr: true) }
        log.add(PhaseLine.format(report.phases), printed: verbose, onStderr: true)
        log.add(summary(report), printed: !quiet, onStderr: !detach)
        if displayStats { log.add(Statistics.restore(report), printed: true, onStderr: !detach) }
        log.write()
        if detach { return }
        var status: Int32 = 0
        while waitpid(report.pid, &status, 0) == -1 {
            if errno != EINTR { throw fail("restore", SystemError("waitpid", pid: report.pid)) }
        }
        let stop = Stop(status: status)
        switch stop {
        case .exited(let code):
            log.add("restored process \(report.pid) exited with status \(code)")
            log.write()
            throw ExitCode(code)
        case .killed(let sig):
            log.add("restored process \(report.pid) was killed by \(SignalNames.name(sig))", printed: !quiet, onStderr: true)
            log.write()
            throw ExitCode(128 + sig)
        default:
            log.write()
            throw ExitCode(1)
        }
    }

    private func cpuChecks() throws -> CPUChecks {
        guard let checks = CPUChecks(names: cpuCap) else {
            throw ValidationError("--cpu-cap takes fpu, ins, both with a comma, or none; not \(cpuCap)")
        }
        return checks
    }

    private func vdsoBridgeMode() throws -> VDSOBridgeMode {
        guard let mode = VDSOBridgeMode(rawValue: vdsoBridge) else {
            throw ValidationError("--vdso-bridge takes auto, always or never; not \(vdsoBridge)")
        }
        return mode
    }

    private func inheritedFiles() throws -> [ExternalFiles.Inherited] {
        try inheritFd.map { text in
            guard let given = ExternalFiles.Inherited(text) else { throw ValidationError("--inherit-fd takes fd[N]:FILE, not \(text)") }
            return given
        }
    }

    private func runCheck() throws {
        let options = try restoreOptions()
        let log = try RunLog(option: logFile, imagesDirectory: directory)
        let check = try runTraced("restore", log: log) {
            try Restorer.check(directory: directory, shellJob: options.shellJob, cpuChecks: options.cpuChecks,
                               vdsoBridge: options.vdsoBridge, inherited: options.inherited, relocation: options.relocation,
                               manageCgroups: options.manageCgroups)
        }
        for w in check.warnings { log.add("warning: \(w)", printed: !quiet, onStderr: true) }
        let tree = treeCounts(processes: check.processes, zombies: check.zombies)
        let contents = "\(directory) holds \(tree)\(check.threads) thread\(check.threads == 1 ? "" : "s"), \(check.vmas) VMAs, "
            + "\(ByteCount.format(check.pageBytes)) of pages, every checksum and chunk verified"
        guard check.takenIDs.isEmpty else {
            let ids = check.takenIDs.map(String.init).joined(separator: ", ")
            let one = check.takenIDs.count == 1
            let error = CheckpointError("\(contents); it cannot be restored now: id\(one ? "" : "s") \(ids) \(one ? "is" : "are") in use on this host")
            log.failed("restore", error)
            throw fail("restore", error)
        }
        log.add("\(contents); the files, directories and devices it maps and opens are as it needs them, and its ids and addresses are free here", printed: !quiet, onStderr: false)
        log.write()
    }

    private func summary(_ report: RestoreReport) -> String {
        let tree = treeCounts(processes: report.processes, zombies: report.zombies)
        return "restored pid \(report.pid) from \(directory): \(tree)\(report.threads) thread\(report.threads == 1 ? "" : "s"), "
            + "\(report.vmas) VMAs, wrote \(ByteCount.format(report.bytesWritten)) in \(String(format: "%.2f s", report.seconds))"
            + (report.waitedForIDs >= 0.2 ? String(format: " (%.2f s of it waiting for the image's pids to be free)", report.waitedForIDs) : "")
            + (report.takenFromKeepers > 0
                ? ", \(report.takenFromKeepers) shared outside taken back from crtool-keeper"
                    + (report.keepersEnded.isEmpty ? "" : " (pid \(report.keepersEnded.map(String.init).joined(separator: ", ")), ended)")
                : "")
            + (report.trackingEnded.isEmpty ? "" : ", write tracking of the dumped tree ended (crtool-keeper pid \(report.trackingEnded.map(String.init).joined(separator: ", ")))")
            + (leaveStopped ? "; left stopped (SIGCONT to let it go)" : "")
    }
}
