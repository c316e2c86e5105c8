import Glibc
import Ptrace

/// Puts each restored process in the cgroup, UTS, IPC, network and mount namespaces it had, right
/// after it is created and before it has children, so that they inherit
/// them as they did. The first process of a namespace makes it with
/// unshare (and names a UTS one); the others that were in it and do not
/// inherit it enter it with setns, on /proc/PID/ns (opened by crtool) of the one that
/// made it; a process that was in crtool's enters the restoring crtool's.
/// Threads are made later by their process, in its namespaces. A cgroup
/// namespace is made where it was rooted: its first process joins the
/// root's cgroups before it unshares, and its own ones after. An IPC
/// namespace is given its System V objects, with their ids, as soon as it
/// is made, from a thread of crtool's inside it: its processes attach
/// their segments once their memory is made. A network namespace gets its
/// loopback device up if it was and its veth pairs and routes (VethMaker,
/// the outside ends raised when the tree is let go), and is kept open for
/// the sockets made in it (OpenFileRegistry.making). A mount namespace is given its mounts
/// (MountNamespaceMaker) before any file is opened in it. A time
/// namespace is given offsets that carry its clocks on from where they
/// stopped (`enterTime`). A namespace a user namespace of the tree owns
/// is made inside it instead, by a helper (`UserNamespaceMaker`), and
/// entered with setns; a mount namespace is given its mounts first, then
/// copied there.
final class NamespaceRestorer {
    private let saved: [NamespaceImage]
    private let image: ImageDirectory
    /// Who made each namespace of the image, by kind and id.
    private var madeBy: [NamespaceKind: [UInt64: Int32]] = [:]
    /// The file each time namespace made is entered through: its maker
    /// may have made it only for its children.
    private var timeNamespacePaths: [UInt64: String] = [:]
    /// The System V objects made in each IPC namespace, with its maker.
    private var sysvIPC: [(maker: Int32, restore: SysVIPCRestore)] = []
    private let crtoolPid = getpid()
    /// The network namespaces made, by the id they had at the dump.
    private(set) var networkNamespaces: [UInt64: NetworkNamespace] = [:]
    /// Their veth pairs' outside ends, down until the tree is let go.
    private(set) var outsideEnds: [VethMaker.Raising] = []

    private let cgroups: CgroupPlacement
    /// The tree's user namespaces, and the namespaces they own.
    let users: UserNamespaceMaker
    /// The peer groups of the tree's mounts, made again as the mount
    /// namespaces are.
    private let peerGroups: MountPeerGroups

    /// crtool's descriptors given for the namespaces left out at the
    /// dump (`ExternalNamespaces`), by their ids there.
    private let given: [UInt64: Int32]

    init(_ saved: [NamespaceImage], image: ImageDirectory, cgroups: CgroupPlacement, given: [UInt64: Int32] = [:]) throws {
        self.saved = saved
        self.given = given
        self.image = image
        self.cgroups = cgroups
        users = try UserNamespaceMaker(saved)
        peerGroups = MountPeerGroups(saved)
    }

    /// The roots of the cgroup namespace `pid` made, if it made one: it
    /// joined them before it unshared.
    func cgroupRootsMade(by pid: Int32) -> [CgroupMembership]? {
        guard let (id, _) = madeBy[.cgroup]?.first(where: { $0.value == pid }) else { return nil }
        return saved.first { $0.kind == .cgroup && $0.id == id }?.cgroupRoots
    }

    /// Once every process has attached its segments: as
    /// `SysVIPCRestore.finish`, in each IPC namespace.
    func finishSysVIPC() throws {
        for (maker, restore) in sysvIPC {
            try NamespaceEntry.run(in: .ipc, of: maker) { try restore.finish() }
        }
    }

    /// `parent`: the process it was forked from here (nil for the root,
    /// which starts in crtool's namespaces), and its injector.
    func enter(_ process: ProcessImage, parent: ProcessImage?, parentInjector: RemoteSyscall?, with inj: RemoteSyscall,
               warnings: inout [String]) throws {
        // Made while the process is small: its helper is a copy of it.
        if let user = process.namespaces?.user { _ = try users.path(ofUser: user, from: inj) }
        for kind in NamespaceImage.enteredKinds {
            if kind == .time {
                try enterTime(process, parent: parent, with: inj)
                continue
            }
            let wanted = process.namespaces?[kind]
            guard wanted != parent?.namespaces?[kind] else { continue }
            guard let id = wanted else {
                try join(kind, of: crtoolPid, with: inj, what: "crtool's \(kind.title)")
                continue
            }
            if let maker = madeBy[kind]?[id] {
                try join(kind, of: maker, with: inj, what: "\(kind.rawValue):[\(id)] made by pid \(maker)")
                continue
            }
            let namespace = saved.first { $0.kind == kind && $0.id == id }
            if let key = namespace?.externalKey {
                // Checked before any process was made (`ExternalNamespaces.requireGiven`).
                guard let fd = given[id] else { throw CheckpointError("\(kind.rawValue):[\(id)] was left out at the dump and none was given for \(key)") }
                if try !Self.isIn(kind, descriptor: fd, pid: process.pid) {
                    guard !users.bornInside.contains(process.pid) else {
                        // It has capabilities in the user namespace made for it alone.
                        throw CheckpointError("pid \(process.pid) is made inside its user namespace, from where it cannot enter the \(kind.title) given for \(key) (\(kind.rawValue):[\(id)] at the dump), and its parent is not in it; crtool cannot yet restore such a process into a namespace left out")
                    }
                    try Self.join(kind, descriptor: fd, courier: users.courier, with: inj, what: "the \(kind.title) given for \(key) in place of \(kind.rawValue):[\(id)]")
                }
                if kind == .net { networkNamespaces[id] = try NetworkNamespace(pid: process.pid) }
                madeBy[kind, default: [:]][id] = process.pid
                continue
            }
            if kind == .mnt, let parentInjector, let namespace, let owner = namespace.owner, users.bornInside.contains(process.pid) {
                try enterMadeOutside(namespace, owner: owner, by: parentInjector, with: inj)
                madeBy[kind, default: [:]][id] = process.pid
                continue
            }
            if let owner = namespace?.owner, kind != .mnt {
                let cgroups = self.cgroups
                let path = try users.path(of: kind, id: id, from: inj, prepare: { helper in
                    if kind == .cgroup, let namespace { try cgroups.enterRoots(of: namespace, pid: helper) }
                })
                try Self.join(kind, path: path, courier: users.courier, with: inj, what: "\(kind.rawValue):[\(id)], made inside user:[\(owner)]")
            } else {
                if kind == .cgroup, let namespace { try cgroups.enterRoots(of: namespace, pid: process.pid) }
                try inj.checked("a \(kind.title) of its own, as \(kind.rawValue):[\(id)] was", Syscall.unshare, kind.cloneFlag)
            }
            // A veth's or tun's own sysctls once it is made, the others before anything is.
            let made = Set((namespace?.veths ?? []).map(\.inside.name) + (namespace?.tuns ?? []).map(\.device.name))
            let sysctls = (namespace?.sysctls ?? [:]).filter { NamespaceSysctls.device(of: $0.key).map(made.contains) != true }
            if !sysctls.isEmpty {
                warnings += try Self.set(sysctls, of: kind, id: id, in: process.pid)
            }
            if kind == .uts, let namespace {
                try name(namespace, with: inj)
            }
            if kind == .net, let namespace {
                try Self.makeLoopback(namespace, in: process.pid)
                let devices = (namespace.sysctls ?? [:]).filter { NamespaceSysctls.device(of: $0.key).map(made.contains) == true }
                outsideEnds += try VethMaker.make(namespace, in: process.pid) {
                    if !devices.isEmpty { warnings += try Self.set(devices, of: kind, id: id, in: process.pid) }
                }
                networkNamespaces[id] = try NetworkNamespace(pid: process.pid)
            }
            if kind == .mnt, let mounts = namespace?.mounts {
                let courier = users.courier
                try MountNamespaceMaker.make(mounts, id: id, copiedFrom: namespace?.copiedFrom, in: process.pid, with: inj, groups: (peerGroups, { local in
                    UInt64(try FileRestoreContext.install(local, through: FileRestoreContext.inheritedCrtoolPidFD, courier: courier, with: inj))
                }))
                peerGroups.made(id, by: process.pid)
                if let owner = namespace?.owner {
                    // Its copy inside the user namespace, where the
                    // program can change its mounts as it could.
                    let path = try users.path(of: .mnt, id: id, from: inj)
                    try Self.join(.mnt, path: path, courier: users.courier, with: inj, what: "mnt:[\(id)], copied inside user:[\(owner)]")
                }
            }
            if let objects = namespace?.sysvIPC {
                let image = self.image
                // A namespace just made holds nothing: every object is made.
                let restore = try NamespaceEntry.run(in: .ipc, of: process.pid) {
                    try SysVIPCRestorer.prepare(objects, missing: try SysVIPCRestorer.missing(objects), image: image)
                }
                sysvIPC.append((process.pid, restore))
            }
            madeBy[kind, default: [:]][id] = process.pid
        }
        if let pidNamespace = process.firstOfPidNamespace, let mnt = process.namespaces?.mnt {
            for m in saved.first(where: { $0.kind == .mnt && $0.id == mnt })?.mounts ?? [] where m.pidNamespace == pidNamespace {
                if let parentInjector, users.bornInside.contains(process.pid) {
                    try makeProcOutside(m, by: parentInjector, for: inj)
                } else {
                    try MountNamespaceMaker.makeProc(m, with: inj)
                }
            }
        }
    }

    /// Puts the stand-in parent of a root born inside its user namespace
    /// (`inj`, in crtool's) in the namespaces given for those the root
    /// had left out, for the root to be born in them: from inside, it has
    /// no capabilities over a namespace crtool's user namespace owns.
    func enterGiven(of root: ProcessImage, with inj: RemoteSyscall) throws {
        for kind in ExternalNamespaces.kinds {
            guard let id = root.namespaces?[kind], let fd = given[id],
                  let key = saved.first(where: { $0.kind == kind && $0.id == id })?.externalKey else { continue }
            try Self.join(kind, descriptor: fd, courier: users.courier, with: inj, what: "the \(kind.title) given for \(key), for pid \(root.pid) to be born in")
        }
    }

    /// Whether `pid` is in the namespace crtool's descriptor `fd` stands for.
    private static func isIn(_ kind: NamespaceKind, descriptor fd: Int32, pid: Int32) throws -> Bool {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SystemError("fstat of the \(kind.title) given", pid: pid) }
        return try kind.id(pid: pid) == UInt64(st.st_ino)
    }

    /// A proc for the first process of a PID namespace born inside its
    /// user namespace: from there the kernel lets it mount one only while
    /// another proc is in full view in its mount namespace, which a
    /// namespace with a root of its own (pivot_root) no longer has. A
    /// helper of its parent's, in crtool's user namespace and born in the
    /// process's PID namespace (`withHelperBornBeside`), mounts the proc
    /// in a mount namespace of its own; the process puts a detached copy
    /// of it in place (move_mount).
    private func makeProcOutside(_ m: SavedMount, by parent: RemoteSyscall, for inj: RemoteSyscall) throws {
        let pid = inj.tracee.pid
        try Self.withHelperBornBeside(pid, from: parent) { maker in
            try maker.checked("a mount namespace to mount a proc for pid \(pid) in", Syscall.unshare, NamespaceKind.mnt.cloneFlag)
            let made = try MountNamespaceMaker.detachedFresh(m, with: maker)
            let local = try PidFD(pid: maker.tracee.pid).duplicate(Int32(made))
            defer { close(local) }
            let fd = try FileRestoreContext.install(local, through: FileRestoreContext.inheritedCrtoolPidFD, courier: users.courier, with: inj)
            try MountNamespaceMaker.place(m, detached: UInt64(fd), with: inj)
        }
    }

    /// A mount namespace for a process born inside its user namespace
    /// (`UserNamespaceMaker.bearFirst`), which could make from there
    /// neither the mounts crtool's namespace has nor a device node in a
    /// tmpfs: a helper of its parent's, still in crtool's user namespace,
    /// makes them in a namespace of its own, and the copy a helper of its
    /// makes inside the user namespace is the one the process enters.
    /// A proc among them shows the PID namespace of the process that
    /// mounts it, so the helper is born in the process's
    /// (`withHelperBornBeside`).
    private func enterMadeOutside(_ namespace: NamespaceImage, owner: UInt64, by parent: RemoteSyscall, with inj: RemoteSyscall) throws {
        try Self.withHelperBornBeside(inj.tracee.pid, from: parent) { maker in
            try makeOutside(namespace, owner: owner, in: maker, with: inj)
        }
    }

    /// Runs `body` with a helper forked from `parent`, still in crtool's
    /// user namespace, in the PID namespace of the process `pid`: when
    /// that is not its parent's (the first process of its PID
    /// namespace), the helper points its children at the process's and
    /// the one run is a child of the helper's, born there.
    private static func withHelperBornBeside(_ pid: Int32, from parent: RemoteSyscall, _ body: (RemoteSyscall) throws -> Void) throws {
        let (helper, pidInParent) = try TaskSpawner.spawnHelper(from: parent)
        defer { try? TaskSpawner.endHelper(helper, pidInParent: pidInParent, parent: parent) }
        guard try NamespaceKind.pid.id(pid: pid) != (try NamespaceKind.pid.id(pid: helper.tracee.pid)) else {
            return try body(helper)
        }
        try PidNamespaceMaker.enter(pidOf: pid, what: "the PID namespace of pid \(pid)", with: helper)
        let (maker, pidInHelper) = try TaskSpawner.spawnHelper(from: helper)
        defer { try? TaskSpawner.endHelper(maker, pidInParent: pidInHelper, parent: helper) }
        try body(maker)
    }

    private func makeOutside(_ namespace: NamespaceImage, owner: UInt64, in maker: RemoteSyscall, with inj: RemoteSyscall) throws {
        let id = namespace.id
        try maker.checked("a mount namespace, as mnt:[\(id)] was", Syscall.unshare, NamespaceKind.mnt.cloneFlag)
        try MountNamespaceMaker.make(namespace.mounts ?? [], id: id, copiedFrom: namespace.copiedFrom, in: maker.tracee.pid, with: maker)
        let path = try users.path(of: .mnt, id: id, from: maker)
        try Self.join(.mnt, path: path, courier: users.courier, with: inj,
                      what: "mnt:[\(id)], copied inside user:[\(owner)]")
    }

    /// A process is born in the time namespace its parent's children are
    /// born in. When its own is another, it makes it (unshare), the
    /// offsets are set while nobody is in it, and it enters it through
    /// its time_for_children (unshare leaves the caller outside); or it
    /// enters the one made already. A process whose children are born in
    /// another one (unshare --time --fork) makes that one after, and
    /// stays out of it.
    private func enterTime(_ process: ProcessImage, parent: ProcessImage?, with inj: RemoteSyscall) throws {
        let own = process.namespaces?.time
        let born = parent?.namespaces?.timeOfChildren
        if own != born {
            if let own {
                let made = timeNamespacePaths[own] == nil
                if made { try makeTime(own, by: process.pid, with: inj) }
                try Self.join(.time, path: timeNamespacePaths[own]!, courier: users.courier, with: inj, what: "time:[\(own)]")
                // Its maker is in it now, and may make another for its children.
                if made { timeNamespacePaths[own] = NamespaceKind.time.path(pid: process.pid) }
            } else {
                try join(.time, of: crtoolPid, with: inj, what: "crtool's time namespace")
            }
        }
        if let forChildren = process.namespaces?.timeForChildren {
            guard timeNamespacePaths[forChildren] == nil else {
                throw CheckpointError("the children of pid \(process.pid) were born in time:[\(forChildren)], which another process of the tree made before it; crtool can give a process's children only a time namespace it makes for them")
            }
            try makeTime(forChildren, by: process.pid, with: inj)
            timeNamespacePaths[forChildren] = NamespaceKind.time.forChildrenPath(pid: process.pid)
        }
    }

    /// The offsets are the clocks saved less the host's now, written
    /// before anything else is done, so that the restore's own time is
    /// the only jump its processes see.
    private func makeTime(_ id: UInt64, by pid: Int32, with inj: RemoteSyscall) throws {
        // `load` gave every time namespace its clocks.
        let clocks = saved.first { $0.kind == .time && $0.id == id }!.clocks!
        func setOffsets(of maker: Int32) throws {
            do {
                try (clocks - TimeNamespaceClocks.host()).setOffsets(pid: maker)
            } catch {
                throw CheckpointError("setting the clocks of time:[\(id)] made by pid \(maker) to carry on from monotonic \(clocks.monotonic) ns, boottime \(clocks.boottime) ns: \(error)")
            }
        }
        if users.owner(of: .time, id: id) != nil {
            timeNamespacePaths[id] = try users.path(of: .time, id: id, from: inj, made: setOffsets)
            return
        }
        try inj.checked("a time namespace of its own, as time:[\(id)] was", Syscall.unshare, NamespaceKind.time.cloneFlag)
        try setOffsets(of: pid)
        timeNamespacePaths[id] = NamespaceKind.time.forChildrenPath(pid: pid)
    }

    private func join(_ kind: NamespaceKind, of pid: Int32, with inj: RemoteSyscall, what: String) throws {
        try Self.join(kind, path: kind.path(pid: pid), courier: users.courier, with: inj, what: what)
    }

    /// The namespace is opened by crtool and planted through the pidfd
    /// of crtool every process inherits: the process's own /proc may be
    /// that of a PID namespace, where a pid names another process or none.
    static func join(_ kind: NamespaceKind, path: String, courier: DescriptorCourier?, with inj: RemoteSyscall, what: String) throws {
        let pid = inj.memory.pid
        let local = open(path, O_RDONLY | O_CLOEXEC)
        guard local >= 0 else { throw SystemError("open \(path) to enter \(what)", pid: pid) }
        defer { close(local) }
        try join(kind, descriptor: local, courier: courier, with: inj, what: what)
    }

    /// As above, the namespace crtool's descriptor `local` stands for.
    static func join(_ kind: NamespaceKind, descriptor local: Int32, courier: DescriptorCourier?, with inj: RemoteSyscall, what: String) throws {
        let fd = UInt64(try FileRestoreContext.install(local, through: FileRestoreContext.inheritedCrtoolPidFD, courier: courier, with: inj))
        defer { _ = try? inj.call(Syscall.close, fd) }
        try inj.checked("entering \(what)", Syscall.setns, fd, kind.cloneFlag)
    }

    /// The namespace's sysctls, before anything is made in it (a System V
    /// object beyond a default limit needs its limit first). One this host
    /// does not take (not in its kernel, or out of its range) is a
    /// warning: the program runs on with the host's value.
    private static func set(_ sysctls: [String: String], of kind: NamespaceKind, id: UInt64, in pid: Int32) throws -> [String] {
        try NamespaceEntry.run(in: kind, of: pid) {
            // "all" and "default" before each device's, as they pass their
            // values on to the devices; a device's stable_secret before its
            // addr_gen_mode, which writing the secret sets to stable privacy.
            sysctls.keys.sorted { a, b in
                let secrets = (a.hasSuffix("/stable_secret"), b.hasSuffix("/stable_secret"))
                return secrets.0 != secrets.1 ? secrets.0 : a < b
            }.compactMap { path in
                // `load` refused any other; the write is as root.
                guard NamespaceSysctls.belongs(path, to: kind) else { return "the sysctl \(path) is not \(kind.title)'s: left alone" }
                do {
                    try NamespaceSysctls.write(path, sysctls[path]!)
                    return nil
                } catch {
                    return "the sysctl \(path) of \(kind.rawValue):[\(id)] was not set to \(sysctls[path]!): \(error)"
                }
            }
        }
    }

    /// The loopback device as the image's was: up or down, with the
    /// addresses the kernel gives it (a host with IPv6 disabled gives it
    /// no ::1, and the program would miss it: named, not ignored).
    private static func makeLoopback(_ saved: NamespaceImage, in pid: Int32) throws {
        let up = saved.loopbackUp ?? false
        let addresses = try NamespaceEntry.run(in: .net, of: pid) { () throws -> [String] in
            if up { try Loopback.setUp() }
            return try Loopback.addresses()
        }
        let wanted = saved.loopbackAddresses ?? []
        guard addresses == wanted else {
            throw CheckpointError("the loopback device of the network namespace made for net:[\(saved.id)] came \(up ? "up" : "down") with \(addresses.isEmpty ? "no address" : addresses.joined(separator: ", ")); the image's had \(wanted.isEmpty ? "none" : wanted.joined(separator: ", "))")
        }
    }

    private func name(_ names: NamespaceImage, with inj: RemoteSyscall) throws {
        let hostname = Array((names.hostname ?? "").utf8)
        try inj.checked("hostname \(names.hostname ?? "")", Syscall.sethostname, try inj.stage(hostname + [0]), UInt64(hostname.count))
        let domainname = Array((names.domainname ?? "").utf8)
        try inj.checked("domainname \(names.domainname ?? "")", Syscall.setdomainname, try inj.stage(domainname + [0]), UInt64(domainname.count))
    }

    /// namespaces.json read and checked against the processes: each kind
    /// one a process may have, each id once, a UTS namespace's names as
    /// long as the kernel takes, System V objects only in an IPC one
    /// (checked further by `SysVIPCRestorer.load`), a loopback device only
    /// in a network one, and every id a process or a socket names listed.
    static func load(_ image: ImageDirectory, processes: [ProcessImage]) throws -> [NamespaceImage] {
        let file = NamespaceImage.listFile
        let saved = image.manifest.files[file] == nil ? [] : try image.readJSON([NamespaceImage].self, from: file)
        var seen: Set<String> = []
        for (i, n) in saved.enumerated() {
            guard NamespaceImage.savedKinds.contains(n.kind) else {
                throw ImageError(file: file, field: "[\(i)].kind", reason: "a process cannot have a \(n.kind.title) of its own in an image")
            }
            guard seen.insert("\(n.kind.rawValue):\(n.id)").inserted else {
                throw ImageError(file: file, field: "[\(i)].id", reason: "\(n.kind.rawValue):[\(n.id)] is listed twice")
            }
            guard n.kind == .ipc || n.sysvIPC == nil else {
                throw ImageError(file: file, field: "[\(i)].sysvIPC", reason: "only an IPC namespace holds System V objects")
            }
            for path in (n.sysctls ?? [:]).keys.sorted() {
                guard NamespaceSysctls.belongs(path, to: n.kind) else {
                    throw ImageError(file: file, field: "[\(i)].sysctls.\(path)", reason: "not a sysctl a \(n.kind.title) holds")
                }
                let value = n.sysctls![path]!
                guard value.utf8.count <= 4096, !value.utf8.contains(0), !value.contains("\n") else {
                    throw ImageError(file: file, field: "[\(i)].sysctls.\(path)", reason: "\(value.utf8.count) bytes is not a sysctl's value (at most 4096, one line, no NUL)")
                }
            }
            guard (n.kind == .mnt) == (n.mounts != nil) else {
                throw ImageError(file: file, field: "[\(i)].mounts", reason: n.kind == .mnt ? "a mount namespace needs its mounts" : "only a mount namespace has mounts")
            }
            if let base = n.copiedFrom {
                // Its first process unshares it in the namespace it was forked in, its parent's, made by then.
                let first = processes.first { $0.namespaces?.mnt == n.id }
                let parent = first.flatMap { f in processes.first { $0.pid == f.ppid } }
                guard n.kind == .mnt, parent?.namespaces?.mnt == base else {
                    throw ImageError(file: file, field: "[\(i)].copiedFrom", reason: n.kind != .mnt ? "only a mount namespace is copied from another"
                        : "mnt:[\(base)] is not the mount namespace of the parent of mnt:[\(n.id)]'s first process, which the restore copies")
                }
            }
            if let mounts = n.mounts {
                try SavedMountCheck.check(mounts, file: file, field: "[\(i)].mounts")
                for (j, m) in mounts.enumerated() {
                    guard let shown = m.pidNamespace else { continue }
                    guard processes.contains(where: { $0.firstOfPidNamespace == shown && $0.namespaces?.mnt == n.id }) else {
                        throw ImageError(file: file, field: "[\(i)].mounts[\(j)].pidNamespace", reason: "no first process of pid:[\(shown)] in mnt:[\(n.id)] to mount it")
                    }
                }
            }
            guard (n.kind == .time) == (n.clocks != nil) else {
                throw ImageError(file: file, field: "[\(i)].clocks", reason: n.kind == .time ? "a time namespace needs its clocks" : "only a time namespace has clocks")
            }
            if let clocks = n.clocks {
                for (name, value) in [("monotonic", clocks.monotonic), ("boottime", clocks.boottime)] where !(0...TimeNamespaceClocks.greatest).contains(value) {
                    throw ImageError(file: file, field: "[\(i)].clocks.\(name)", reason: "\(value) ns is not a clock's reading (0 to \(TimeNamespaceClocks.greatest))")
                }
            }
            guard (n.kind == .cgroup) == (n.cgroupRoots != nil) else {
                throw ImageError(file: file, field: "[\(i)].cgroupRoots", reason: n.kind == .cgroup ? "a cgroup namespace needs its roots" : "only a cgroup namespace has roots")
            }
            for (j, root) in (n.cgroupRoots ?? []).enumerated() {
                guard root.hasPlainPath, !(n.cgroupRoots ?? [])[..<j].contains(where: { $0.controllers == root.controllers }) else {
                    throw ImageError(file: file, field: "[\(i)].cgroupRoots[\(j)]", reason: "\(root.path) of \(root.controllers.isEmpty ? "the unified hierarchy" : root.controllers) is not a cgroup's path, or its hierarchy's root is listed twice")
                }
            }
            try checkUser(n, file: file, index: i, saved: saved)
            try NetworkDevicesCheck.check(n, file: file, index: i)
            guard n.kind == .net || (n.loopbackUp == nil && n.loopbackAddresses == nil) else {
                throw ImageError(file: file, field: "[\(i)].loopbackUp", reason: "only a network namespace has a loopback device")
            }
            guard n.networkLock == nil || n.externalKey != nil else {
                throw ImageError(file: file, field: "[\(i)].networkLock", reason: "only a namespace left out at the dump keeps a table of the dump's")
            }
            if let key = n.externalKey {
                try checkLeftOut(n, key: key, file: file, index: i)
            } else if n.kind == .net {
                guard let up = n.loopbackUp else {
                    throw ImageError(file: file, field: "[\(i)].loopbackUp", reason: "a network namespace needs its loopback device's state")
                }
                if !up, let addresses = n.loopbackAddresses, !addresses.isEmpty {
                    throw ImageError(file: file, field: "[\(i)].loopbackAddresses", reason: "a loopback device that is down has no address")
                }
            }
            for (field, value) in [("hostname", n.hostname), ("domainname", n.domainname)] {
                guard let value else {
                    if n.kind == .uts, n.externalKey == nil { throw ImageError(file: file, field: "[\(i)].\(field)", reason: "a UTS namespace needs its \(field)") }
                    continue
                }
                guard n.kind == .uts else {
                    throw ImageError(file: file, field: "[\(i)].\(field)", reason: "only a UTS namespace has a \(field)")
                }
                guard value.utf8.count <= UTSNames.maximumLength, !value.utf8.contains(0) else {
                    throw ImageError(file: file, field: "[\(i)].\(field)", reason: "\(value.utf8.count) bytes is not a \(field) (at most \(UTSNames.maximumLength), no NUL)")
                }
            }
        }
        for p in processes {
            for kind in NamespaceImage.savedKinds {
                for id in p.namespaces?.ids(of: kind) ?? [] where !seen.contains("\(kind.rawValue):\(id)") {
                    let field = id == p.namespaces?[kind] ? kind.rawValue : "\(kind.rawValue)ForChildren"
                    throw ImageError(file: "process-\(p.pid).json", field: "namespaces.\(field)", reason: "\(kind.rawValue):[\(id)] is not in \(file)")
                }
            }
            for (i, f) in p.files.enumerated() {
                guard let id = f.networkNamespace, !seen.contains("net:\(id)") else { continue }
                throw ImageError(file: "process-\(p.pid).json", field: "files[\(i)].networkNamespace", reason: "net:[\(id)] is not in \(file)")
            }
        }
        if let problem = UserNamespaceLayout.problem(processes: processes, saved: saved) {
            throw ImageError(file: "process-\(problem.pid).json", field: problem.field, reason: problem.reason)
        }
        return saved
    }

    /// A namespace left out at the dump holds its key and nothing the
    /// restore would make: it is entered as given. An IPC one may hold the
    /// tree's System V objects, taken or made there (`GivenIPCNamespaces`).
    private static func checkLeftOut(_ n: NamespaceImage, key: String, file: String, index i: Int) throws {
        guard ExternalNamespaces.kinds.contains(n.kind) else {
            throw ImageError(file: file, field: "[\(i)].externalKey", reason: "crtool leaves out only network, UTS and IPC namespaces, not a \(n.kind.title)")
        }
        guard !key.isEmpty, key.utf8.count <= 4096, !key.utf8.contains(0) else {
            throw ImageError(file: file, field: "[\(i)].externalKey", reason: "\(key.utf8.count) bytes is not a key --inherit-fd can give (1 to 4096, no NUL)")
        }
        let fields: [(String, Bool)] = [("loopbackUp", n.loopbackUp != nil), ("loopbackAddresses", n.loopbackAddresses != nil), ("sysctls", n.sysctls != nil),
                                        ("veths", n.veths != nil), ("routes", n.routes != nil), ("tuns", n.tuns != nil),
                                        ("hostname", n.hostname != nil), ("domainname", n.domainname != nil), ("owner", n.owner != nil)]
        if let table = n.networkLock, !TCPConnectionImage.isTableName(table) {
            throw ImageError(file: file, field: "[\(i)].networkLock", reason: "\"\(table)\" is not a table name crtool makes")
        }
        if let (field, _) = fields.first(where: { $0.1 }) {
            throw ImageError(file: file, field: "[\(i)].\(field)", reason: "\(n.kind.rawValue):[\(n.id)] was left out at the dump (\(key)): the one given is entered as it is")
        }
    }

    /// A user namespace's maps as the kernel would take them, its
    /// setgroups and maker; an owner only on another kind, and one listed.
    private static func checkUser(_ n: NamespaceImage, file: String, index i: Int, saved: [NamespaceImage]) throws {
        let isUser = n.kind == .user
        for (field, present) in [("uidMap", n.uidMap != nil), ("gidMap", n.gidMap != nil), ("setgroupsAllowed", n.setgroupsAllowed != nil),
                                 ("ownerUID", n.ownerUID != nil)] where present != isUser {
            throw ImageError(file: file, field: "[\(i)].\(field)", reason: isUser ? "a user namespace needs its \(field)" : "only a user namespace has a \(field)")
        }
        for (field, map) in [("uidMap", n.uidMap), ("gidMap", n.gidMap)] {
            if let map, let problem = IDMap.problem(map) { throw ImageError(file: file, field: "[\(i)].\(field)", reason: problem) }
        }
        if let owner = n.owner {
            guard !isUser else {
                throw ImageError(file: file, field: "[\(i)].owner", reason: "a user namespace of the tree is one level below crtool's, owned by crtool's")
            }
            guard saved.contains(where: { $0.kind == .user && $0.id == owner }) else {
                throw ImageError(file: file, field: "[\(i)].owner", reason: "user:[\(owner)] is not in \(file)")
            }
        }
    }
}
