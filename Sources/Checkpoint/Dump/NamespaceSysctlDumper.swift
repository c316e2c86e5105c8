import Ptrace

/// The sysctls an IPC or network namespace of the tree's own was given
/// (`sysctl -w` inside it, a container's settings): those that differ
/// from what a namespace made here has, which is what the restore's new
/// one starts with; for a device a new namespace has not (a veth), those
/// that differ from what the restore's device starts with: the
/// namespace's "default" entry, or the kernel's value where it has none. The values a new namespace has are read once per run.
enum NamespaceSysctlDumper {
    static func differing(_ kind: NamespaceKind, of pid: Int32) throws -> [String: String]? {
        let values = try NamespaceEntry.run(in: kind, of: pid) { NamespaceSysctls.read(NamespaceSysctls.paths(for: kind) ?? []) }
        let fresh = try freshValues(kind)
        let differing = values.filter { path, value in
            let baseline = fresh[path] ?? NamespaceSysctls.entry(of: path, for: "default").flatMap { values[$0] }
                ?? NamespaceSysctls.entry(of: path, for: Loopback.name).flatMap { fresh[$0] }
            return baseline != value
        }
        return differing.isEmpty ? nil : differing
    }

    /// Reads what a new namespace holds before the tree is frozen, for
    /// each kind the root has a namespace of its own of (some 600 files of
    /// a network namespace: milliseconds the tree would wait).
    static func prepare(root pid: Int32) {
        for kind in [NamespaceKind.ipc, .net] {
            guard let theirs = try? kind.id(pid: pid), let mine = NamespaceCheck.own[kind], theirs != mine else { continue }
            _ = try? freshValues(kind)
        }
    }

    private static func freshValues(_ kind: NamespaceKind) throws -> [String: String] {
        switch kind {
        case .ipc: return try freshIPC.get()
        case .net: return try FreshNetworkNamespace.state.get().sysctls
        default: return [:]
        }
    }

    private static let freshIPC: Result<[String: String], Error> = Result {
        try NamespaceEntry.runInNew(.ipc) { NamespaceSysctls.read(NamespaceSysctls.paths(for: .ipc) ?? []) }
    }
}
