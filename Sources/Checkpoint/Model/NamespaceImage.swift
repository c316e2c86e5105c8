import Ptrace

/// A namespace processes of the tree had of their own, saved once and
/// named by its inode at the dump so that the processes sharing it share
/// it again. The namespaces crtool was in are not saved: a process that
/// shared them goes back into the restoring crtool's. Listed in
/// namespaces.json.
public struct NamespaceImage: Codable, Equatable, Sendable {
    /// A line of a user namespace's map, named here for code that reads
    /// images without the Ptrace layer.
    public typealias IDMap = IDMapping
    public static let listFile = "namespaces.json"
    /// The kinds a process may have of its own. A PID namespace holds
    /// nothing but its processes, each made in it with its pids
    /// (`PidNamespaceLayout`). The others are made again with unshare
    /// (`enteredKinds`): they hold nothing a restore must fill but a UTS namespace's names,
    /// an IPC namespace's System V objects and whether a network
    /// namespace's loopback device is up (the only device a saved one has;
    /// its sockets are the processes' files), and a mount namespace's
    /// mounts, and a cgroup namespace's roots, and a time namespace's
    /// clocks. The cgroup namespace comes
    /// first at the restore, as it is made where it was rooted, and the
    /// mount namespace last, so that the proc, sysfs, mqueue and cgroup
    /// file systems it makes belong to the others.
    /// A user namespace comes first: the others name the one that owns
    /// them (`owner`).
    public static let savedKinds: [NamespaceKind] = [.user, .pid, .cgroup, .time, .uts, .ipc, .net, .mnt]
    /// Those a process enters once it exists: a process is born into its
    /// PID namespace, and enters its user namespace last of all
    /// (`UserNamespaceMaker`).
    public static let enteredKinds: [NamespaceKind] = [.cgroup, .time, .uts, .ipc, .net, .mnt]

    public var kind: NamespaceKind
    public var id: UInt64
    /// The user namespace of the tree's that owns it (its capabilities
    /// rule it): one whose processes made it. Nil when crtool's does.
    public var owner: UInt64?
    /// A user namespace's maps (lines of inside, outside, count, outside
    /// being crtool's ids), whether setgroups was allowed in it, and the
    /// uid that made it, which has every capability in it.
    public var uidMap: [IDMapping]?
    public var gidMap: [IDMapping]?
    public var setgroupsAllowed: Bool?
    public var ownerUID: UInt32?
    /// A UTS namespace's names, as uname(2) gave them.
    public var hostname: String?
    public var domainname: String?
    /// The System V objects of an IPC namespace, every one it held: the
    /// namespace is the tree's, and goes with it. Nil when it held none.
    public var sysvIPC: SysVIPCImage?
    /// A network namespace's loopback device: whether it was up, and its
    /// addresses, those the kernel gives it as it comes up (the restore
    /// checks that the one it makes has the same).
    public var loopbackUp: Bool?
    public var loopbackAddresses: [String]?
    /// An IPC or network namespace's sysctls that differ from a new one's,
    /// by path below /proc/sys (NamespaceSysctls); nil when none do.
    public var sysctls: [String: String]?
    /// A mount namespace's mounts, each after the one it sits on.
    public var mounts: [SavedMount]?
    /// The mount namespace of the tree's this one was copied from (unshare
    /// -m by a process in it: a service's PrivateTmp= in a container, a
    /// sandbox a program in a namespace of its own starts), so that a file
    /// system the two share stays one; its mounts of `host` origin are
    /// that namespace's, its bind sources paths there. Nil for a copy of
    /// crtool's.
    public var copiedFrom: UInt64?
    /// A network namespace's veth devices into crtool's namespace, and
    /// the routes of its main table the kernel did not make; nil when it
    /// has none.
    public var veths: [VethImage]?
    public var routes: [RouteImage]?
    /// Its tun and tap devices; nil when it has none.
    public var tuns: [TunDeviceImage]?
    /// A cgroup namespace's root in each hierarchy, as crtool's namespace
    /// names it: the cgroups its first process was in when it made it
    /// (unshare), which its processes see as "/". The restore makes it
    /// from there.
    public var cgroupRoots: [CgroupMembership]?
    /// A time namespace's clocks as its processes read them when the tree
    /// was frozen. The restore sets its offsets so that they carry on
    /// from there, on any host and after any wait: a program that
    /// measures time with them (or sleeps until a moment of them) sees
    /// no jump.
    public var clocks: TimeNamespaceClocks?
    /// A namespace left out at the dump (`dump --external net[INODE]:KEY`,
    /// CRIU's form): the one a runtime made and configured (its devices,
    /// addresses, routes, a tap a user-mode network stack holds), which
    /// the runtime makes again for the restore and hands over with
    /// `restore --inherit-fd fd[N]:KEY`. Nothing of it is saved but the
    /// key; its processes' sockets are saved as any, and made in the one
    /// given.
    public var externalKey: String?
    /// The nftables table a dump with --tcp-established left in a
    /// namespace left out, holding the packets of its devices: the
    /// namespace outlives the tree, and its connections' peers must meet
    /// silence there, not resets, until the restore. Removed by the
    /// restore when the namespace given is that one.
    public var networkLock: String?

    public init(kind: NamespaceKind, id: UInt64, hostname: String? = nil, domainname: String? = nil, sysvIPC: SysVIPCImage? = nil,
                loopbackUp: Bool? = nil, loopbackAddresses: [String]? = nil) {
        self.kind = kind
        self.id = id
        self.hostname = hostname
        self.domainname = domainname
        self.sysvIPC = sysvIPC
        self.loopbackUp = loopbackUp
        self.loopbackAddresses = loopbackAddresses
    }
}

/// The namespaces of its own a process was in, by id; nil for a kind in
/// which it shared crtool's.
public struct NamespaceMembership: Codable, Equatable, Sendable {
    /// One level below crtool's (`NamespaceCheck`).
    public var user: UInt64?
    public var pid: UInt64?
    public var uts: UInt64?
    public var ipc: UInt64?
    public var net: UInt64?
    public var mnt: UInt64?
    public var cgroup: UInt64?
    /// The PID namespace its children are born in when it is not its own:
    /// one it made for a child and kept (util-linux's unshare --pid
    /// --fork). A namespace of the tree's.
    public var pidForChildren: UInt64?
    public var time: UInt64?
    /// The time namespace its children are born in when it is not its own:
    /// one it made for them (unshare --time --fork) and did not enter.
    public var timeForChildren: UInt64?

    public init(pid: UInt64? = nil, uts: UInt64? = nil, ipc: UInt64? = nil, net: UInt64? = nil, mnt: UInt64? = nil) {
        self.pid = pid
        self.uts = uts
        self.ipc = ipc
        self.net = net
        self.mnt = mnt
    }

    public subscript(kind: NamespaceKind) -> UInt64? {
        get {
            switch kind {
            case .user: return user
            case .pid: return pid
            case .uts: return uts
            case .ipc: return ipc
            case .net: return net
            case .mnt: return mnt
            case .cgroup: return cgroup
            case .time: return time
            }
        }
        set {
            switch kind {
            case .user: user = newValue
            case .pid: pid = newValue
            case .uts: uts = newValue
            case .ipc: ipc = newValue
            case .net: net = newValue
            case .mnt: mnt = newValue
            case .cgroup: cgroup = newValue
            case .time: time = newValue
            }
        }
    }

    public var isEmpty: Bool {
        user == nil && pid == nil && pidForChildren == nil && uts == nil && ipc == nil && net == nil && mnt == nil && cgroup == nil
            && time == nil && timeForChildren == nil
    }

    /// The namespaces of `kind` of the tree's it names: its own, and for
    /// a time namespace the one its children are born in.
    public func ids(of kind: NamespaceKind) -> [UInt64] {
        [self[kind], kind == .time ? timeForChildren : nil].compactMap { $0 }
    }

    /// The time namespace its children are born in; nil for crtool's.
    public var timeOfChildren: UInt64? { timeForChildren ?? time }
}
