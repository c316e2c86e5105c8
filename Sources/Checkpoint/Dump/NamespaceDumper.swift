import Ptrace

/// Saves each namespace of the tree's own once: a UTS namespace with its
/// names, an IPC namespace as it is made again, empty. System V objects
/// are saved and made only in crtool's own IPC namespace, so one of the
/// tree's that holds any, or a process of it that maps a segment, is
/// refused, naming them.
enum NamespaceDumper {
    static func dump(_ processes: [ProcessImage]) throws -> [NamespaceImage] {
        var saved: [NamespaceImage] = []
        for p in processes {
            guard let membership = p.namespaces else { continue }
            if membership.ipc != nil, let segment = p.vmas.first(where: { $0.sysvShm != nil }) {
                throw CheckpointError("pid \(p.pid) maps System V shared memory (segment \(segment.sysvShm!) at \(hex(segment.start))) in an IPC namespace of its own; crtool saves System V objects only in its own IPC namespace")
            }
            for kind in NamespaceImage.savedKinds {
                guard let id = membership[kind], !saved.contains(where: { $0.kind == kind && $0.id == id }) else { continue }
                switch kind {
                case .uts:
                    let names = try UTSNames.of(pid: p.pid)
                    saved.append(NamespaceImage(kind: .uts, id: id, hostname: names.hostname, domainname: names.domainname))
                case .ipc:
                    try requireNoSysVObjects(inNamespaceOf: p.pid, id: id)
                    saved.append(NamespaceImage(kind: .ipc, id: id))
                default:
                    preconditionFailure("\(kind.title) is not saved")
                }
            }
        }
        return saved
    }

    private static func requireNoSysVObjects(inNamespaceOf pid: Int32, id: UInt64) throws {
        let counts = try NamespaceEntry.run(in: .ipc, of: pid) {
            try [SysVIPCKind.sharedMemory, .semaphores, .messageQueue].map { ($0, try SysVIPC.list($0).count) }
        }
        let held = counts.filter { $0.1 > 0 }.map { "\($0.1) \($0.0.noun)\($0.1 == 1 ? "" : "s")" }
        guard held.isEmpty else {
            throw CheckpointError("pid \(pid) is in an IPC namespace of its own (ipc:[\(id)]) that holds \(held.joined(separator: ", ")); crtool saves System V objects only in its own IPC namespace")
        }
    }
}
