import Glibc
import Ptrace

/// Processes outside the tree in a namespace of the tree's own. The
/// restore makes such a namespace again for the tree alone, so whoever
/// else was in it would stay in the old one, parted from the tree: a
/// System V object, a hostname or a connection one of them changes the
/// other would no longer see. A namespace a runtime shares between its
/// containers (a pod's network, IPC and UTS namespaces) is left out
/// instead (`ExternalNamespaces`), and entered again as given.
enum NamespaceOutsiders {
    /// Refuses namespace `kind`:[`id`] of `pid` when a process that is
    /// not of `tree` is in it, naming the first and the ways out.
    static func refuse(_ kind: NamespaceKind, id: UInt64, of pid: Int32, tree: Set<Int32>) throws {
        guard let outsider = try of(kind, id: id, tree: tree).first else { return }
        let command = (try? ProcStat.read(pid: outsider)).map { " (\($0.command))" } ?? ""
        var ways = "checkpoint the tree that holds both"
        if ExternalNamespaces.kinds.contains(kind) {
            ways += ", or leave the namespace out with --external \(kind.rawValue)[\(id)]:KEY and give the restore the one to enter with --inherit-fd fd[N]:KEY"
        }
        throw CheckpointError("pid \(outsider)\(command) is in the \(kind.title) \(kind.rawValue):[\(id)] of pid \(pid) too, and is not in the tree; "
            + "a restore would leave it in the old namespace, apart from the tree (\(ways))")
    }

    /// The processes in namespace `kind`:[`id`] that are not of `tree`
    /// (crtool aside, whose threads enter it to read it).
    static func of(_ kind: NamespaceKind, id: UInt64, tree: Set<Int32>) throws -> [Int32] {
        let me = getpid()
        return try ProcDirectory.numbers("/proc").filter { pid in
            pid != me && !tree.contains(pid) && (try? kind.id(pid: pid)) == id
        }
    }
}
