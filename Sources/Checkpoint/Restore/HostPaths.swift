/// Where the paths of the image's processes lie in crtool's mount
/// namespace, for the checks a restore makes before the processes and
/// their namespaces exist. A process in crtool's namespace has its paths
/// as they are; one in a namespace of the image's, where MountedPath
/// finds them (nil inside a file system the restore makes anew, where no
/// file of the host can be).
struct HostPaths: Sendable {
    static let crtools = HostPaths(namespaces: [], processes: [])
    private let namespaces: [NamespaceImage]
    private let mountNamespaces: [Int32: UInt64]

    init(namespaces: [NamespaceImage], processes: [ProcessImage]) {
        self.namespaces = namespaces
        let saved = Set(namespaces.filter { $0.kind == .mnt }.map(\.id))
        mountNamespaces = Dictionary(uniqueKeysWithValues: processes.compactMap { p in
            p.namespaces?.mnt.flatMap { saved.contains($0) ? (p.pid, $0) : nil }
        })
    }

    func of(_ path: String, pid: Int32) -> String? {
        guard let id = mountNamespaces[pid], path.hasPrefix("/") else { return path }
        return MountedPath.host(path, inNamespace: id, of: namespaces)
    }
}
