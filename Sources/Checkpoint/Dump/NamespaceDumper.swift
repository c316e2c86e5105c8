import Ptrace

/// Saves each namespace of the tree's own once: a UTS namespace with its
/// names, an IPC namespace by its id; its System V objects are read with
/// the pages (`SysVIPCDumper.dumpNamespaces`).
enum NamespaceDumper {
    static func dump(_ processes: [ProcessImage]) throws -> [NamespaceImage] {
        var saved: [NamespaceImage] = []
        for p in processes {
            guard let membership = p.namespaces else { continue }
            for kind in NamespaceImage.savedKinds {
                guard let id = membership[kind], !saved.contains(where: { $0.kind == kind && $0.id == id }) else { continue }
                switch kind {
                case .uts:
                    let names = try UTSNames.of(pid: p.pid)
                    saved.append(NamespaceImage(kind: .uts, id: id, hostname: names.hostname, domainname: names.domainname))
                case .ipc:
                    saved.append(NamespaceImage(kind: .ipc, id: id))
                default:
                    preconditionFailure("\(kind.title) is not saved")
                }
            }
        }
        return saved
    }
}
