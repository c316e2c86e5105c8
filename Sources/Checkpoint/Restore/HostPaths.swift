/// Where the paths of the image's processes lie in crtool's mount
/// namespace, for the checks a restore makes before the processes and
/// their namespaces exist. A process in crtool's namespace has its paths
/// as they are; one in a namespace of the image's, where MountedPath
/// finds them (nil inside a file system the restore makes anew, where no
/// file of the host can be).
struct HostPaths: Sendable {
    static let crtools = HostPaths(namespaces: [], processes: [])
    private let mounts: [Int32: [SavedMount]]

    init(namespaces: [NamespaceImage], processes: [ProcessImage]) {
        let byID = Dictionary(namespaces.compactMap { n in n.mounts.map { (n.id, $0) } }, uniquingKeysWith: { a, _ in a })
        mounts = Dictionary(uniqueKeysWithValues: processes.compactMap { p in
            p.namespaces?.mnt.flatMap { byID[$0] }.map { (p.pid, $0) }
        })
    }

    func of(_ path: String, pid: Int32) -> String? {
        guard let mounts = mounts[pid], path.hasPrefix("/") else { return path }
        return MountedPath.host(path, in: mounts)
    }
}
