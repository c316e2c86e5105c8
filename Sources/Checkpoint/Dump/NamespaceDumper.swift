import Ptrace

/// Saves each namespace of the tree's own once, with the user namespace
/// of the tree's that owns it: a user namespace with its maps; a UTS namespace with its
/// names, an IPC namespace by its id (its System V objects are read with
/// the pages, `SysVIPCDumper.dumpNamespaces`), a network namespace with
/// its loopback's state (NetworkNamespaceDumper); the last two with the
/// sysctls they were given (NamespaceSysctlDumper); a mount namespace
/// with its mounts (MountNamespaceDumper); a cgroup namespace with where
/// it is rooted (CgroupNamespaceDumper); a time namespace with its clocks
/// when the tree was frozen (TimeNamespaceDumper); a PID namespace by its id
/// alone, once its processes are known to sit as the restore can make
/// them (PidNamespaceLayout). A network, UTS or IPC namespace left out
/// with --external is saved by its key alone (`ExternalNamespaces`; an
/// IPC one's System V objects still are, being the tree's); one of these
/// kinds that a process outside the tree is in is refused otherwise
/// (`NamespaceOutsiders`). Warns of what the
/// restore will not make again (a network namespace's name).
enum NamespaceDumper {
    /// `frozenClocks`: the host's clocks when the tree was frozen;
    /// `leftOut`: the namespaces saved by their key alone (--external).
    static func dump(_ processes: [ProcessImage], zombies: [ZombieImage], tmpfsDataLimit: UInt64,
                     frozenClocks: TimeNamespaceClocks, leftOut: [ExternalNamespaces.LeftOut] = []) throws -> (saved: [NamespaceImage], warnings: [String]) {
        if let problem = PidNamespaceLayout.problem(processes: processes, zombies: zombies) {
            throw CheckpointError("\(problem.zombie ? "zombie" : "pid") \(problem.pid): \(problem.reason)")
        }
        let tree = Set(processes.map(\.pid))
        var saved: [NamespaceImage] = []
        var warnings: [String] = []
        var madeAnew: [String: String] = [:]
        for p in processes {
            guard let membership = p.namespaces else { continue }
            for kind in NamespaceImage.savedKinds {
                for id in membership.ids(of: kind) where !saved.contains(where: { $0.kind == kind && $0.id == id }) {
                    let owned = try owner(of: kind, id: id, in: p)
                    let leftOutKey = ExternalNamespaces.key(of: kind, id: id, in: leftOut)
                    switch kind {
                    case _ where leftOutKey != nil:
                        // The runtime's: its names, limits, devices and other members are its own business.
                        // An IPC namespace's System V objects are the tree's, read with the pages.
                        var namespace = NamespaceImage(kind: kind, id: id)
                        namespace.externalKey = leftOutKey
                        saved.append(namespace)
                    case .user:
                        var namespace = NamespaceImage(kind: .user, id: id)
                        namespace.uidMap = try IDMap.read(pid: p.pid, file: "uid_map")
                        namespace.gidMap = try IDMap.read(pid: p.pid, file: "gid_map")
                        namespace.setgroupsAllowed = try IDMap.setgroupsAllowed(pid: p.pid)
                        namespace.ownerUID = try NamespaceKind.ownerUID(path: kind.path(pid: p.pid), pid: p.pid)
                        for (name, map) in [("uid_map", namespace.uidMap!), ("gid_map", namespace.gidMap!)] {
                            if let problem = IDMap.problem(map) { throw CheckpointError("the \(name) of user:[\(id)] (pid \(p.pid)): \(problem)") }
                        }
                        saved.append(namespace)
                    case .pid:
                        // It holds its processes, which carry their pids.
                        saved.append(NamespaceImage(kind: .pid, id: id))
                    case .uts:
                        try NamespaceOutsiders.refuse(.uts, id: id, of: p.pid, tree: tree)
                        let names = try UTSNames.of(pid: p.pid)
                        saved.append(NamespaceImage(kind: .uts, id: id, hostname: names.hostname, domainname: names.domainname))
                    case .ipc:
                        try NamespaceOutsiders.refuse(.ipc, id: id, of: p.pid, tree: tree)
                        var namespace = NamespaceImage(kind: .ipc, id: id)
                        namespace.sysctls = try NamespaceSysctlDumper.differing(.ipc, of: p.pid)
                        saved.append(namespace)
                    case .net:
                        var namespace = try NetworkNamespaceDumper.dump(id: id, of: p.pid, tree: tree,
                                                                        tunQueues: TunQueue.byDevice(in: processes, namespace: id))
                        namespace.sysctls = try NamespaceSysctlDumper.differing(.net, of: p.pid)
                        saved.append(namespace)
                        warnings += NetworkNamespaceDumper.names(of: id).map { name in
                            "the network namespace net:[\(id)] is named \(name) (\(NetworkNamespaceDumper.namesDirectory)/\(name), ip netns); the restore makes a new one and does not name it, so `ip netns exec \(name)` reaches the old one"
                        }
                    case .cgroup:
                        var namespace = NamespaceImage(kind: .cgroup, id: id)
                        namespace.cgroupRoots = try CgroupNamespaceDumper.roots(id: id, of: p.pid)
                        saved.append(namespace)
                    case .mnt:
                        let members = processes.filter { $0.namespaces?.mnt == id }
                        var namespace = NamespaceImage(kind: .mnt, id: id)
                        // unshare copies the namespace its caller is in: the parent's, as the restore forks it.
                        let copiedFrom = processes.first { $0.pid == p.ppid }.flatMap { parent in
                            parent.namespaces?.mnt.flatMap { $0 == id ? nil : (id: $0, pid: parent.pid) }
                        }
                        namespace.copiedFrom = copiedFrom?.id
                        namespace.mounts = try MountNamespaceDumper.dump(id: id, of: p.pid, copiedFrom: copiedFrom,
                                                                         dataLimit: tmpfsDataLimit,
                                                                         heldPtys: PtyMasters.held(by: members).merging(ExternalFiles.terminals(of: members)) { $0.union($1) },
                                                                         madeAnew: &madeAnew)
                        try MountNamespaceDumper.requireReachable(members, namespace: id, of: saved + [namespace])
                        try MountNamespaceDumper.placeProcs(&namespace.mounts!, namespace: id, maker: p, processes: processes)
                        saved.append(namespace)
                    case .time:
                        var namespace = NamespaceImage(kind: .time, id: id)
                        namespace.clocks = try TimeNamespaceDumper.clocks(of: id, processes: processes, frozenClocks: frozenClocks)
                        saved.append(namespace)
                    }
                    // One left out is entered as given, whoever owns it.
                    if kind != .user, saved[saved.count - 1].externalKey == nil { saved[saved.count - 1].owner = owned }
                }
            }
        }
        try ExternalNamespaces.requireAllFound(leftOut, saved: saved)
        try requireOwnersSaved(saved)
        if let problem = UserNamespaceLayout.problem(processes: processes, saved: saved) {
            throw CheckpointError("pid \(problem.pid): \(problem.reason)")
        }
        try requireSocketsInSavedNamespaces(processes, saved: saved)
        for p in processes {
            for f in p.files {
                if let problem = PtyMasters.devptsProblem(f, of: p, namespaces: saved) { throw CheckpointError(problem + "; crtool cannot make its pty again") }
            }
        }
        return (saved, warnings)
    }

    /// The user namespace that owns a namespace of the tree's, when it is
    /// not crtool's; asked of the file that names it for `p` (a time
    /// namespace may be the one for its children).
    private static func owner(of kind: NamespaceKind, id: UInt64, in p: ProcessImage) throws -> UInt64? {
        guard kind != .user else { return nil }
        let path = id == p.namespaces?[kind] ? kind.path(pid: p.pid) : kind.forChildrenPath(pid: p.pid)
        let owner = try NamespaceKind.ownerID(path: path, pid: p.pid)
        return owner == NamespaceCheck.own[.user] ? nil : owner
    }

    /// A namespace owned by a user namespace no process of the tree is in
    /// (entered with setns from outside it) would have no maps to be made
    /// again with.
    private static func requireOwnersSaved(_ saved: [NamespaceImage]) throws {
        let users = Set(saved.filter { $0.kind == .user }.map(\.id))
        for n in saved {
            guard let owner = n.owner, !users.contains(owner) else { continue }
            throw CheckpointError("\(n.kind.rawValue):[\(n.id)] belongs to user:[\(owner)], which no process of the tree is in; crtool makes a user namespace again only from the maps of a process in it")
        }
    }

    /// A socket of a network namespace neither crtool's nor any process's
    /// of the tree (one made there, then passed out or kept by a process
    /// that left) would have nowhere to be made again.
    private static func requireSocketsInSavedNamespaces(_ processes: [ProcessImage], saved: [NamespaceImage]) throws {
        let known = Set(saved.filter { $0.kind == .net }.map(\.id))
        for p in processes {
            for f in p.files {
                guard let id = f.networkNamespace, !known.contains(id) else { continue }
                let what = f.kind == .tun ? "a queue of a tun device" : "a socket"
                throw CheckpointError("pid \(p.pid) fd \(f.fd) is \(what) of the network namespace net:[\(id)], which no process of the tree is in; crtool makes \(f.kind == .tun ? "them" : "sockets") again only in the tree's namespaces and its own")
            }
        }
    }
}
