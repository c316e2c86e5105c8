import Foundation
import Ptrace

/// Puts each restored process back in the cgroups it was in: its memory
/// and CPU limits, and what a service manager knows of it, go with the
/// cgroup. A restored process starts in crtool's; it is moved (all its
/// threads, through cgroup.procs) where it was, hierarchy by hierarchy.
/// A process joins its cgroups as soon as it is created, before its
/// memory is made: pages are charged to the cgroup of the process they are
/// given to, and stay charged there when it moves, so a process moved
/// after its restore would have all its memory outside its own limits.
///
/// Before any process exists, `prepare` makes the cgroups that are missing
/// here (another host, a service stopped since, a new --cgroup-root) and
/// writes the settings the dump saved, as --manage-cgroups says
/// (`CgroupManagement`); `removeMade` removes what it made if the restore
/// fails. Below a cgroup given with --cgroup-root the user chose where the
/// tree goes, so a process that cannot join its cgroup there fails the
/// restore; elsewhere it stays in crtool's, with a warning.
struct CgroupPlacement {
    /// crtool's own cgroups, where each restored process starts.
    let own: [CgroupMembership]
    /// The cgroup file systems mounted here.
    let mounts: [MountEntry]
    /// The cgroups given with --cgroup-root, one per hierarchy changed.
    var given: [CgroupMembership] = []
    var mode: CgroupManagement = .soft
    /// The tree's cgroups with their settings, parents first.
    var saved: [CgroupImage] = []
    /// The directories made below them, in the order they were made.
    private let made = MadeDirectories()

    /// Read once for a whole tree: the mount table alone is some 0.1 ms
    /// to read and parse, which a tree of hundreds paid per process.
    static func here(given: [CgroupMembership] = [], mode: CgroupManagement = .soft, saved: [CgroupImage] = []) -> CgroupPlacement {
        CgroupPlacement(own: (try? CgroupMembership.read(pid: getpid())) ?? [], mounts: cgroupMounts(), given: given, mode: mode, saved: saved)
    }

    /// The cgroup file systems mounted in crtool's namespace.
    static func cgroupMounts() -> [MountEntry] {
        ((try? MountTable.read(pid: getpid())) ?? []).filter { $0.fsType == "cgroup" || $0.fsType == "cgroup2" }
    }

    /// `start`: the cgroups the process is in now (`start(parent:namespaceRoots:)`); it is
    /// moved in each hierarchy where the image has it elsewhere.
    func place(_ process: ProcessImage, from start: [CgroupMembership], warnings: inout [String]) throws {
        guard mode != .ignore else { return }
        for (membership, existing) in wanted(by: process, from: start) {
            let chosen = isGiven(membership)
            guard let directory = existing else {
                warnings.append(Self.missing(membership, of: process))
                continue
            }
            do {
                try LocalFile.writeControl("\(process.pid)\n", to: directory + "/cgroup.procs", pid: process.pid)
            } catch {
                let failure = "pid \(process.pid) could not join \(membership.hierarchyName) cgroup \(membership.path): \(error)"
                if chosen { throw CheckpointError(failure + " (under --cgroup-root)") }
                warnings.append(failure)
            }
        }
    }

    /// Where a restored process is before `place` moves it: the root in
    /// crtool's cgroups, any other in those of the parent it was forked
    /// from (placed before it), except in each hierarchy where a cgroup
    /// namespace it made is rooted (`enterRoots` moved it there). A
    /// process the image has in crtool's cgroups but whose parent is
    /// elsewhere is moved back to crtool's.
    func start(parent: ProcessImage?, namespaceRoots: [CgroupMembership]?) -> [CgroupMembership] {
        let inherited = parent.map { $0.cgroups ?? own } ?? own
        guard let namespaceRoots else { return inherited }
        return inherited.map { m in namespaceRoots.first { $0.controllers == m.controllers } ?? m }
    }

    /// A cgroup namespace is made where it was rooted: its first process
    /// joins the root's cgroups, in every hierarchy, and then unshares
    /// (before `place` moves it into its own). A restore whose roots
    /// are not here is refused by `requireRoots` before anything is made.
    func enterRoots(of namespace: NamespaceImage, pid: Int32) throws {
        guard mode != .ignore else { return }
        for root in namespace.cgroupRoots ?? [] {
            guard let directory = existing(root) else {
                throw CheckpointError("cgroup:[\(namespace.id)] was rooted at \(root.hierarchyName) cgroup \(root.path), which does not exist here")
            }
            do {
                try LocalFile.writeControl("\(pid)\n", to: directory + "/cgroup.procs", pid: pid)
            } catch {
                throw CheckpointError("pid \(pid) could not join \(root.hierarchyName) cgroup \(root.path), where it makes cgroup:[\(namespace.id)] again: \(error)")
            }
        }
    }

    /// A cgroup namespace made anywhere else than where it was rooted
    /// would show its processes other cgroups than they saw, and their
    /// cgroup mounts other directories: refused, naming the cgroup.
    func requireRoots(of namespaces: [NamespaceImage]) throws {
        guard mode != .ignore else {
            if !given.isEmpty {
                throw CheckpointError("--cgroup-root has nothing to do with --manage-cgroups ignore, which leaves every process "
                    + "in crtool's cgroups; nothing was restored")
            }
            return
        }
        for root in given where existing(root) == nil {
            throw CheckpointError("\(root.hierarchyName) cgroup \(root.path), given with --cgroup-root, does not exist here: "
                + "make it to restore under it; nothing was restored")
        }
        for n in namespaces where !mode.makesMissing {
            for root in n.cgroupRoots ?? [] where existing(root) == nil {
                throw CheckpointError("cgroup:[\(n.id)] was rooted at \(root.hierarchyName) cgroup \(root.path), which does not exist here: "
                    + "make it (a container's cgroup), or let the restore make it (--manage-cgroups soft); nothing was restored")
            }
        }
        if mode == .strict {
            for c in saved where existing(c.membership) != nil && !given.contains(c.membership) {
                throw CheckpointError("\(c.membership.hierarchyName) cgroup \(c.path) exists here, and --manage-cgroups strict makes "
                    + "every cgroup of the tree's anew; nothing was restored")
            }
        }
    }

    /// Makes the cgroups the tree is in that are missing here, parents
    /// first, and writes the saved settings onto those `mode` says, before
    /// any process exists: a v1 cpuset cgroup takes no process before it
    /// has CPUs, and a unified one enables controllers for the cgroups
    /// below it only while no process is in it. A cgroup whose hierarchy
    /// is not mounted here is left to `place`'s warning.
    func prepare(_ processes: [ProcessImage], namespaces: [NamespaceImage]) throws {
        guard mode != .ignore else { return }
        var needed = saved.map(\.membership)
        for m in processes.flatMap({ $0.cgroups ?? [] }) + namespaces.flatMap({ $0.cgroupRoots ?? [] }) where !needed.contains(m) {
            needed.append(m)
        }
        for m in needed.sorted(by: { CgroupImage.parentsFirst($0.path, $1.path) }) {
            guard let directory = m.directory(in: mounts) else { continue }
            var isMade = false
            if !FileManager.default.fileExists(atPath: directory) {
                guard mode.makesMissing else { continue }
                try make(directory, for: m)
                isMade = true
            }
            if mode.writesSettings(made: isMade), let settings = saved.first(where: { $0.membership == m }) {
                if m.controllers.isEmpty {
                    made.enabled += try CgroupControllers.offer(CgroupControllers.needed(by: settings), in: directory)
                }
                try CgroupSettingsWriter.write(settings, to: directory)
            }
        }
    }

    /// The warnings `place` would give for cgroups that do not exist here,
    /// for a check made before the restore.
    func missing(for processes: [ProcessImage]) -> [String] {
        guard mode != .ignore else { return [] }
        return processes.flatMap { p in
            wanted(by: p, from: own).filter { m in
                m.directory == nil && !(mode.makesMissing && m.membership.directory(in: mounts) != nil)
            }.map { Self.missing($0.membership, of: p) }
        }
    }

    /// Refuses, before anything is made, a restore into a frozen cgroup (a
    /// paused container or service): a process joins its cgroups as soon
    /// as it exists, and one in a frozen cgroup would stop at the first
    /// system call crtool injects into it, for as long as the cgroup stays
    /// frozen.
    func requireThawed(_ processes: [ProcessImage]) throws {
        guard mode != .ignore else { return }
        var frozen: [CgroupFreezer: Bool] = [:]
        for p in processes {
            for (membership, directory) in wanted(by: p, from: own) {
                guard let directory else { continue }
                let mounted = CgroupFreezer.freezers(of: [membership], mounts: mounts).first
                guard let freezer = mounted, freezer.directory == directory else { continue }
                let isFrozen = frozen[freezer] ?? ((try? freezer.isHeldFrozen()) == true)
                frozen[freezer] = isFrozen
                if isFrozen {
                    throw CheckpointError("pid \(p.pid) was in cgroup \(directory), which is frozen here: a process restored into it "
                        + "would stop at crtool's first system call and the restore would wait for it. Thaw the cgroup, restore, "
                        + "and freeze it again; nothing was restored")
                }
            }
        }
    }

    /// The cgroups `process` was in that it is not in at `start`, each
    /// with its directory here, or nil where it does not exist.
    private func wanted(by process: ProcessImage, from start: [CgroupMembership]) -> [(membership: CgroupMembership, directory: String?)] {
        (process.cgroups ?? []).filter { !start.contains($0) }.map { ($0, existing($0)) }
    }

    /// At or below a cgroup given with --cgroup-root.
    private func isGiven(_ membership: CgroupMembership) -> Bool {
        given.contains { g in
            g.controllers == membership.controllers && MountedPath.contains(g.path, membership.path)
        }
    }

    /// Makes `directory` and any directory missing above it.
    private func make(_ directory: String, for membership: CgroupMembership) throws {
        var missing: [String] = []
        var d = directory
        while d != "/" && !FileManager.default.fileExists(atPath: d) {
            missing.append(d)
            d = MountedPath.parent(of: d)
        }
        for d in missing.reversed() {
            if mkdir(d, 0o755) == 0 {
                made.add(d)
            } else if errno != EEXIST {
                throw SystemError("mkdir \(d), for the tree's \(membership.hierarchyName) cgroup \(membership.path)")
            }
        }
    }

    /// Removes the cgroups `prepare` made, deepest first, once a restore
    /// that failed has killed and reaped its processes: the kernel frees
    /// a cgroup of a process only shortly after its exit, so each is
    /// waited for a moment. Then disables the controllers it enabled.
    func removeMade() {
        for directory in made.directories.reversed() {
            let deadline = Date().addingTimeInterval(2)
            while rmdir(directory) != 0 && errno == EBUSY && Date() < deadline { usleep(10_000) }
        }
        CgroupControllers.disable(made.enabled)
    }

    private func existing(_ membership: CgroupMembership) -> String? {
        membership.directory(in: mounts).flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil }
    }

    private static func missing(_ membership: CgroupMembership, of process: ProcessImage) -> String {
        "pid \(process.pid) was in \(membership.hierarchyName) cgroup \(membership.path), which does not exist here; it stays in crtool's"
    }
}

/// The directories one restore made, and the controllers it enabled,
/// shared by the copies of its `CgroupPlacement`.
private final class MadeDirectories: @unchecked Sendable {
    private(set) var directories: [String] = []
    var enabled: [(directory: String, controller: String)] = []
    func add(_ directory: String) { directories.append(directory) }
}
