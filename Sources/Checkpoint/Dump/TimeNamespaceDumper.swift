import Ptrace

/// A time namespace's clocks when the tree was frozen: the host's then,
/// plus the offsets the namespace adds. The kernel shows the offsets only
/// of the namespace a process's children are born in, so they are read
/// from a process whose children are born in this one.
enum TimeNamespaceDumper {
    static func clocks(of id: UInt64, processes: [ProcessImage], frozenClocks: TimeNamespaceClocks) throws -> TimeNamespaceClocks {
        guard let shower = processes.first(where: { $0.namespaces?.timeOfChildren == id }) else {
            throw CheckpointError("no process of the tree has its children born in time:[\(id)], and only such a process shows the namespace's clocks; crtool cannot save them")
        }
        let offsets = try TimeNamespaceClocks.offsets(pid: shower.pid)
        guard try NamespaceKind.time.forChildrenID(pid: shower.pid) == id else {
            throw CheckpointError("pid \(shower.pid) made another time namespace while its clocks were read; crtool cannot save time:[\(id)]")
        }
        return frozenClocks + offsets
    }
}
