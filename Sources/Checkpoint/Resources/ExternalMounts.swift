/// `dump --external mnt[MOUNTPOINT]:KEY` and `--ext-mount-map
/// MOUNTPOINT:KEY` (CRIU's names): a file or directory of crtool's bound
/// into the tree's mount namespace whose place is the host's to give, such
/// as a volume or a container's hosts file. crtool saves every such bind
/// with its source anyway; one left out is saved with its key as well,
/// and a restore is refused until it is given a place
/// (`MountSourceChange`), instead of binding the old source unasked.
public enum ExternalMounts {
    public struct LeftOut: Equatable, Sendable {
        public var mountPoint: String
        public var key: String

        /// `mnt[MOUNTPOINT]:KEY` or `MOUNTPOINT:KEY`, MOUNTPOINT absolute.
        public init?(_ text: String) {
            guard let (mountPoint, key) = MountSourceChange.pair(text), mountPoint.hasPrefix("/"), isKey(key) else { return nil }
            self.mountPoint = mountPoint
            self.key = key
        }
    }

    static let keyRule = "a key is 1 to 256 bytes without a NUL or a newline"

    static func isKey(_ key: String) -> Bool {
        (1...256).contains(key.utf8.count) && !key.utf8.contains(0) && !key.contains("\n")
    }

    /// CRIU's ways of asking it to find external mounts itself, which
    /// crtool always does: accepted, and nothing to mark.
    public static func isAutomatic(_ text: String) -> Bool {
        text == "auto" || text == "mnt[]" || text == "mnt[]:"
    }

    /// Where each bind of a file or directory of crtool's below a mount
    /// namespace's root is, by index of namespace and of mount: what can
    /// be left out at the dump and given a place at the restore.
    static func binds(in namespaces: [NamespaceImage]) -> [(namespace: Int, mount: Int)] {
        SavedMount.crtoolsBinds(in: namespaces).filter { namespaces[$0.namespace].mounts![$0.mount].parent != nil }
    }

    /// The mount points of `binds`, each once, for a message that says
    /// what may be named.
    static func mountPoints(_ binds: [(namespace: Int, mount: Int)], in namespaces: [NamespaceImage]) -> String {
        let names = Set(binds.map { b in
            let m = namespaces[b.namespace].mounts![b.mount]
            return m.externalKey.map { "\(m.mountPoint) (\($0))" } ?? m.mountPoint
        }).sorted()
        return names.isEmpty ? "it binds none" : "it binds " + names.joined(separator: ", ")
    }

    /// Marks each mount left out, in every mount namespace of the tree
    /// that binds a file or directory of crtool's there. A mount point
    /// none binds so is refused, naming those that are: the restore would
    /// wait for a key no mount has.
    static func mark(_ namespaces: inout [NamespaceImage], leftOut: [LeftOut]) throws {
        let binds = binds(in: namespaces)
        for l in leftOut {
            let named = binds.filter { namespaces[$0.namespace].mounts![$0.mount].mountPoint == l.mountPoint }
            guard !named.isEmpty else {
                throw CheckpointError("--external mnt[\(l.mountPoint)]:\(l.key): no mount namespace of the tree binds a file or directory of crtool's there "
                    + "(\(mountPoints(binds, in: namespaces)))")
            }
            for b in named { namespaces[b.namespace].mounts![b.mount].externalKey = l.key }
        }
    }
}
