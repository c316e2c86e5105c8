import Ptrace

/// A namespace processes of the tree had of their own, saved once and
/// named by its inode at the dump so that the processes sharing it share
/// it again. The namespaces crtool was in are not saved: a process that
/// shared them goes back into the restoring crtool's. Listed in
/// namespaces.json.
public struct NamespaceImage: Codable, Equatable, Sendable {
    public static let listFile = "namespaces.json"
    /// The kinds a process may have of its own: made again with unshare,
    /// they hold nothing a restore must fill but a UTS namespace's names
    /// and an IPC namespace's System V objects.
    public static let savedKinds: [NamespaceKind] = [.uts, .ipc]

    public var kind: NamespaceKind
    public var id: UInt64
    /// A UTS namespace's names, as uname(2) gave them.
    public var hostname: String?
    public var domainname: String?
    /// The System V objects of an IPC namespace, every one it held: the
    /// namespace is the tree's, and goes with it. Nil when it held none.
    public var sysvIPC: SysVIPCImage?

    public init(kind: NamespaceKind, id: UInt64, hostname: String? = nil, domainname: String? = nil, sysvIPC: SysVIPCImage? = nil) {
        self.kind = kind
        self.id = id
        self.hostname = hostname
        self.domainname = domainname
        self.sysvIPC = sysvIPC
    }
}

/// The namespaces of its own a process was in, by id; nil for a kind in
/// which it shared crtool's.
public struct NamespaceMembership: Codable, Equatable, Sendable {
    public var uts: UInt64?
    public var ipc: UInt64?

    public init(uts: UInt64? = nil, ipc: UInt64? = nil) {
        self.uts = uts
        self.ipc = ipc
    }

    public subscript(kind: NamespaceKind) -> UInt64? {
        get {
            switch kind {
            case .uts: return uts
            case .ipc: return ipc
            default: return nil
            }
        }
        set {
            switch kind {
            case .uts: uts = newValue
            case .ipc: ipc = newValue
            default: preconditionFailure("a process has no \(kind.title) of its own in an image")
            }
        }
    }

    public var isEmpty: Bool { uts == nil && ipc == nil }
}
