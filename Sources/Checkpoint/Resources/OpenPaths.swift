import Glibc
import Ptrace

/// The check a restore makes, before it creates any process, that the
/// directories and devices its processes have open, and the directories
/// they stand in, are still at their paths.
///
/// Each is reopened (or entered) by path inside the restored process, so
/// one that is gone would fail the restore half way: a terminal closed
/// since the dump, a directory removed. A device must still be the device
/// it was, or the process would get another one under the old name.
/// Regular files have their own, closer check (`OpenRegularFiles`); a
/// working directory deleted before the dump is made again by the restore
/// (`WorkingDirectory`), and so is the slave of a pty master the image
/// holds (`PtyMasters`): neither is checked here.
enum OpenPaths {
    /// `shellJob`: --shell-job was given, so the job's terminal is crtool's,
    /// not the one at its old path.
    static func requireReachable(_ plan: RestorePlan, shellJob: Bool) throws {
        let problems = self.problems(plan, shellTerminal: TerminalRestorer.shellTerminal(plan, shellJob: shellJob))
        guard !problems.isEmpty else { return }
        let one = problems.count == 1
        var text = (one ? "a path" : "\(problems.count) paths")
            + " the image has open or stands in cannot be found as \(one ? "it was" : "they were"): "
            + problems.map(\.description).joined(separator: "; ")
            + ". Put \(one ? "it" : "them") back as \(one ? "it was" : "they were") to restore it"
        if problems.contains(where: \.isTerminal), !shellJob, TerminalRestorer.shellTerminal(plan, shellJob: true) != nil {
            text += ", or restore with --shell-job to give the job crtool's terminal in place of the one it had"
        }
        throw CheckpointError(text)
    }

    /// Every root, working directory and descriptor of the image whose
    /// path is not as it needs, the descriptors of one process on one
    /// path together.
    private static func problems(_ plan: RestorePlan, shellTerminal: UInt64?) -> [Problem] {
        // The slaves of the image's own pty masters, which the restore makes.
        let madeTerminals = Set(plan.processes.flatMap { p in
            p.files.compactMap { f in f.kind == .ptyMaster ? f.pty.map { "/dev/pts/\($0.index)" } : nil }
        })
        var problems: [Problem] = []
        for p in plan.processes {
            for (path, role) in [(p.root, "the root"), (p.cwd, "the working directory")] where !isSkipped(path) {
                if let found = plan.hostPaths.of(path, pid: p.pid).flatMap({ problem(at: $0, expecting: .directory) }) {
                    problems.append(Problem(path: path, pid: p.pid, holder: role, found: found))
                }
            }
            for f in p.files where !isSkipped(f.path) && !madeTerminals.contains(f.path) {
                guard let expected = expectation(for: f, shellTerminal: shellTerminal), let path = plan.hostPaths.of(f.path, pid: p.pid),
                      let found = problem(at: path, expecting: expected) else { continue }
                if let same = problems.lastIndex(where: { $0.path == f.path && $0.pid == p.pid && !$0.fds.isEmpty }) {
                    problems[same].fds.append(f.fd)
                } else {
                    problems.append(Problem(path: f.path, pid: p.pid, holder: expected.noun, found: found, fds: [f.fd],
                                            isTerminal: f.kind == .terminal))
                }
            }
        }
        return problems
    }

    /// What `f`'s path must lead to, or nil for a descriptor this check
    /// leaves alone (another kind, the terminal --shell-job replaces, or
    /// one --inherit-fd gives another for).
    private static func expectation(for f: FileDescriptorImage, shellTerminal: UInt64?) -> Expected? {
        guard f.external != true else { return nil }
        switch f.kind {
        case .directory: return .directory
        case .characterDevice, .terminal:
            guard let device = f.device, !(f.kind == .terminal && device == shellTerminal) else { return nil }
            return .device(device, terminal: f.kind == .terminal)
        default: return nil
        }
    }

    /// A path that is not as the image needs it, and who needs it.
    private struct Problem: CustomStringConvertible {
        var path: String
        var pid: Int32
        /// What the path was to the process: "the root", "a terminal".
        var holder: String
        var found: String
        var fds: [Int32] = []
        var isTerminal = false

        var description: String {
            let whose = fds.isEmpty ? "\(holder) of pid \(pid)"
                : "\(holder), fd\(fds.count == 1 ? "" : "s") \(fds.map(String.init).joined(separator: ", ")) of pid \(pid)"
            return "\(path) (\(whose)): \(found)"
        }
    }

    private enum Expected {
        case directory
        case device(UInt64, terminal: Bool)

        var noun: String {
            switch self {
            case .directory: return "a directory"
            case .device(_, let terminal): return terminal ? "a terminal" : "a device"
            }
        }
    }

    /// What is wrong with what `path` leads to now, or nil when it is what
    /// the image needs.
    private static func problem(at path: String, expecting expected: Expected) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return ErrnoNames.describe(errno) }
        let type = info.st_mode & S_IFMT
        switch expected {
        case .directory:
            return type == S_IFDIR ? nil : "no longer a directory"
        case .device(let device, _):
            guard type == S_IFCHR else { return "no longer a device" }
            let now = UInt64(info.st_rdev)
            return now == device ? nil : "now device \(DeviceNumber(now)), not \(DeviceNumber(device))"
        }
    }

    /// Paths the check cannot judge: /proc names processes the restore has
    /// yet to make, a deleted working directory is made again, and a path
    /// not from the root (an anonymous file's name) is not opened by path.
    private static func isSkipped(_ path: String) -> Bool {
        !path.hasPrefix("/") || path == "/proc" || path.hasPrefix("/proc/") || path.hasSuffix(WorkingDirectory.deletedSuffix)
    }
}
