import Foundation
import Glibc

/// The freezer of one cgroup: `cgroup.freeze` and `cgroup.events` in the
/// unified hierarchy (version 2), `freezer.state` in a version 1 freezer
/// hierarchy.
///
/// A frozen task answers no tracer as a running one does. Under version 1
/// it sits in the refrigerator and reaches no ptrace stop until thawed.
/// Under version 2 a ptrace interrupt does stop it, but every time a
/// tracer lets it run (for one injected system call, say) it falls back
/// into the freezer's trap and never gets to the instruction the tracer
/// waits for. Both versions count a task held in a ptrace stop as frozen,
/// so a cgroup can be frozen again before its tasks are let go.
public struct CgroupFreezer: Sendable, Hashable {
    public enum Version: Sendable, Hashable {
        case v1
        case v2

        /// Whether a /proc/PID/cgroup line is of this version's hierarchy.
        func names(_ membership: CgroupMembership) -> Bool {
            self == .v2 ? membership.controllers.isEmpty : membership.controllers.split(separator: ",").contains("freezer")
        }

        /// The file that freezes a cgroup of this version; the root has none.
        var stateFile: String { self == .v2 ? "cgroup.freeze" : "freezer.state" }
    }

    /// The cgroup's directory, with symbolic links resolved.
    public let directory: String
    public let version: Version

    /// `directory` must be a cgroup that can be frozen: one below the root
    /// of the unified hierarchy, or of a version 1 freezer hierarchy.
    public init(directory: String) throws {
        guard let resolved = realpath(directory, nil) else { throw SystemError("resolve cgroup \(directory)") }
        defer { free(resolved) }
        let directory = String(cString: resolved)
        self.directory = directory
        guard let version = [Version.v2, .v1].first(where: { ProcFile.exists(directory + "/" + $0.stateFile) }) else {
            throw SystemError("find cgroup.freeze or freezer.state in \(self.directory) (a cgroup that can be frozen: "
                + "one below the root of the unified hierarchy or of a freezer hierarchy)", errno: ENOENT)
        }
        self.version = version
    }

    public init(directory: String, version: Version) {
        self.directory = directory
        self.version = version
    }

    /// Whether the cgroup is frozen, or freezing, on its own account.
    public func isFrozen() throws -> Bool {
        switch version {
        case .v2: return try control("cgroup.freeze") == "1"
        case .v1: return try control("freezer.self_freezing") == "1"
        }
    }

    /// Whether the cgroup is held frozen by a cgroup above it, which no
    /// write to its own files undoes.
    public func isFrozenFromAbove() throws -> Bool {
        switch version {
        case .v2: return try control("cgroup.freeze") == "0" && events()["frozen"] == "1"
        case .v1: return try control("freezer.parent_freezing") == "1"
        }
    }

    /// Whether the cgroup's tasks are held frozen, by itself or from above:
    /// what a tracer of them must know.
    public func isHeldFrozen() throws -> Bool {
        try isFrozen() || isFrozenFromAbove()
    }

    /// Freezes the cgroup and returns once every task in it is frozen.
    /// A task that does not freeze within `seconds` (one in an
    /// uninterruptible sleep, such as a vfork parent or a request to a
    /// hung file server) leaves the cgroup as it was and throws.
    public func freeze(within seconds: Double) throws {
        let wasFrozen = try isFrozen()
        try write(frozen: true)
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(seconds)
        while try !hasFrozen() {
            if clock.now >= deadline {
                if !wasFrozen { try? write(frozen: false) }
                throw FreezeTimedOut(directory: directory, seconds: seconds)
            }
            usleep(1000)
        }
    }

    public func thaw() throws {
        try write(frozen: false)
    }

    /// The cgroup this hierarchy holds `pid` in, as a directory, from its
    /// /proc/PID/cgroup line and the hierarchy's mounts among `mounts`.
    public func directory(of pid: Int32, mounts: [MountEntry]) throws -> String? {
        try CgroupMembership.read(pid: pid).first(where: version.names)?.directory(in: mounts)
    }

    /// Whether `pid` is in this cgroup or one below it.
    public func holds(_ pid: Int32, mounts: [MountEntry]) throws -> Bool {
        guard let theirs = try directory(of: pid, mounts: mounts) else { return false }
        return theirs == directory || theirs.hasPrefix(directory + "/")
    }

    /// The freezers of the cgroups `memberships` (a process's) name, one
    /// per hierarchy with a freezer mounted among `mounts`; a root cgroup,
    /// which cannot be frozen, has none.
    public static func freezers(of memberships: [CgroupMembership], mounts: [MountEntry]) -> [CgroupFreezer] {
        [Version.v2, .v1].compactMap { version in
            guard let directory = memberships.first(where: version.names)?.directory(in: mounts),
                  ProcFile.exists(directory + "/" + version.stateFile) else { return nil }
            return CgroupFreezer(directory: directory, version: version)
        }
    }

    /// The cgroup above this one in its hierarchy, if it can be frozen.
    public var parent: CgroupFreezer? {
        guard let slash = directory.lastIndex(of: "/"), slash != directory.startIndex else { return nil }
        let above = String(directory[..<slash])
        return ProcFile.exists(above + "/" + version.stateFile) ? CgroupFreezer(directory: above, version: version) : nil
    }

    private func hasFrozen() throws -> Bool {
        switch version {
        case .v2: return try events()["frozen"] == "1"
        // Reading freezer.state is what moves a version 1 cgroup from
        // FREEZING to FROZEN once its last task is in the refrigerator.
        case .v1: return try control("freezer.state") == "FROZEN"
        }
    }

    private func write(frozen: Bool) throws {
        try LocalFile.writeControl(stateText(frozen: frozen), to: stateFilePath)
    }

    /// The file whose text freezes and thaws the cgroup.
    public var stateFilePath: String { directory + "/" + version.stateFile }

    /// What `stateFilePath` takes to freeze or thaw the cgroup.
    public func stateText(frozen: Bool) -> String {
        switch version {
        case .v2: frozen ? "1" : "0"
        case .v1: frozen ? "FROZEN" : "THAWED"
        }
    }

    private func events() throws -> [String: String] {
        var fields: [String: String] = [:]
        for line in try control("cgroup.events").split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        return fields
    }

    private func control(_ name: String) throws -> String {
        try ProcFile.text(directory + "/" + name).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// A cgroup that did not freeze in the time given; it was left as it was.
public struct FreezeTimedOut: Error, CustomStringConvertible, Sendable {
    public var directory: String
    public var seconds: Double
    public var description: String {
        "cgroup \(directory) did not freeze within \(seconds) s: a task in it did not stop "
            + "(one asleep in the kernel, such as a vfork parent or a request to a hung file server, cannot be frozen); "
            + "the cgroup was left as it was"
    }
}
