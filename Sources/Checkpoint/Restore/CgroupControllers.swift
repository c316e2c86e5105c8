import Foundation
import Ptrace

/// A unified cgroup offers the cgroups below it only the controllers its
/// own cgroup.subtree_control enables, and a controller's files appear in
/// a cgroup only when its parent enables it. A cgroup the restore makes
/// below one of the host's (a new slice given with --cgroup-root, whose
/// subtree_control starts empty) would lack the files its saved settings
/// need. So before the settings are written, each controller they name
/// is enabled on the way down from the nearest cgroup above that offers
/// it. What this enabled is disabled again if the restore fails.
enum CgroupControllers {
    /// The controllers `cgroup`'s settings need offered in its directory:
    /// the one each file belongs to (memory for memory.max), and those its
    /// own cgroup.subtree_control enables for the cgroups below it.
    static func needed(by cgroup: CgroupImage) -> [String] {
        var names: [String] = []
        for s in cgroup.settings {
            if s.name == "cgroup.subtree_control" {
                names += s.value.split(separator: " ").map(String.init)
            } else if let dot = s.name.firstIndex(of: "."), s.name[..<dot] != "cgroup" {
                names.append(String(s.name[..<dot]))
            }
        }
        return names.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
    }

    /// Makes each of `controllers` offered in the unified cgroup
    /// `directory`, enabling it in the subtree_control of the cgroups
    /// above as far up as needed. Returns every (cgroup, controller) it
    /// enabled, in order, for `disable`.
    static func offer(_ controllers: [String], in directory: String) throws -> [(directory: String, controller: String)] {
        var enabled: [(directory: String, controller: String)] = []
        do {
            for c in controllers { try offer(c, in: directory, enabled: &enabled) }
        } catch {
            disable(enabled)
            throw error
        }
        return enabled
    }

    private static func offer(_ controller: String, in directory: String, enabled: inout [(directory: String, controller: String)]) throws {
        guard !offered(in: directory).contains(Substring(controller)) else { return }
        let parent = MountedPath.parent(of: directory)
        guard FileManager.default.fileExists(atPath: parent + "/cgroup.controllers") else {
            throw CheckpointError("the unified cgroup hierarchy here has no \(controller) controller (\(directory)/cgroup.controllers), "
                + "which the tree's settings need")
        }
        try offer(controller, in: parent, enabled: &enabled)
        do {
            try LocalFile.writeControl("+" + controller, to: parent + "/cgroup.subtree_control")
        } catch {
            throw CheckpointError("cannot enable the \(controller) controller for the cgroups below \(parent), which the tree's "
                + "settings need in \(directory): \(error)"
                + (Self.holdsProcesses(parent) ? " (a cgroup other than the root that holds processes cannot enable controllers below it)" : ""))
        }
        enabled.append((parent, controller))
    }

    /// Disables what `offer` enabled, last first; a controller something
    /// else has come to use since stays.
    static func disable(_ enabled: [(directory: String, controller: String)]) {
        for (directory, controller) in enabled.reversed() {
            try? LocalFile.writeControl("-" + controller, to: directory + "/cgroup.subtree_control")
        }
    }

    private static func offered(in directory: String) -> [Substring] {
        ((try? ProcFile.value(directory + "/cgroup.controllers")) ?? "").split(separator: " ")
    }

    private static func holdsProcesses(_ directory: String) -> Bool {
        !((try? ProcFile.value(directory + "/cgroup.procs")) ?? "").isEmpty
    }
}
