import Ptrace

/// `--freeze-cgroup`: the tree's cgroup is frozen while crtool seizes the
/// tree, so every task of it stops at one moment and none forks, clones or
/// execs while the tree is being walked (a build spawning compilers, a
/// shell loop). Once every thread is seized and asked to stop, the cgroup
/// is thawed: the threads go from the freezer straight into their ptrace
/// stops, and injected system calls can run. A cgroup that was frozen
/// before the dump (a paused container or service) is frozen again before
/// the tree is let go, so it stays as its user left it.
final class CgroupFreeze {
    let freezer: CgroupFreezer
    let wasFrozen: Bool

    /// Refuses, before anything is frozen, a cgroup that cannot be frozen,
    /// one that does not hold `root`, and one frozen by a cgroup above it.
    /// `mounts`: the cgroup mounts with a freezer (FrozenCgroupCheck's).
    init(directory: String, root: Int32, mounts: [MountEntry]) throws {
        do {
            freezer = try CgroupFreezer(directory: directory)
        } catch {
            throw CheckpointError("--freeze-cgroup \(directory): \(error)")
        }
        guard try freezer.holds(root, mounts: mounts) else {
            let theirs = (try? freezer.directory(of: root, mounts: mounts)).flatMap { $0 }
            throw CheckpointError("pid \(root) is not in cgroup \(freezer.directory) "
                + "(\(theirs.map { "it is in \($0)" } ?? "it is in no cgroup of that hierarchy")); "
                + "--freeze-cgroup names the cgroup the tree runs in")
        }
        if try freezer.isFrozenFromAbove() {
            throw CheckpointError("cgroup \(freezer.directory) is frozen by a cgroup above it, which --freeze-cgroup would not thaw; "
                + "name that cgroup instead")
        }
        wasFrozen = try freezer.isFrozen()
    }

    /// Freezes the cgroup. Until it is thawed, crtool-guard would thaw it
    /// if crtool died: the tree would run on, and so must the cgroup.
    func freeze(within seconds: Double) throws {
        if !wasFrozen { DeathGuard.shared.writeAtDeath(freezer.stateText(frozen: false), to: freezer.stateFilePath) }
        do {
            try freezer.freeze(within: seconds)
        } catch {
            DeathGuard.shared.forgetWrite(to: freezer.stateFilePath)
            throw error
        }
    }

    /// Thaws the cgroup, its tasks held in their ptrace stops. A cgroup its
    /// user had frozen is what crtool-guard freezes again from now on, if
    /// crtool died and the tree were let go.
    func thaw() throws {
        do {
            try freezer.thaw()
        } catch {
            throw CheckpointError("cannot thaw cgroup \(freezer.directory) once the tree was seized: \(error)")
        }
        if wasFrozen {
            DeathGuard.shared.writeAtDeath(freezer.stateText(frozen: true), to: freezer.stateFilePath)
        } else {
            DeathGuard.shared.forgetWrite(to: freezer.stateFilePath)
        }
    }

    /// Freezes the cgroup again if its user had it frozen. The tasks still
    /// held in ptrace stops count as frozen, so they never run between
    /// the dump and the freezer.
    func restoreUsersState(within seconds: Double) {
        guard wasFrozen else { return }
        try? freezer.freeze(within: seconds)
        DeathGuard.shared.forgetWrite(to: freezer.stateFilePath)
    }
}
