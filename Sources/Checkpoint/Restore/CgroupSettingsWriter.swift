import Ptrace

/// Writes a cgroup's saved settings (`CgroupImage`) onto a cgroup here,
/// before any process joins it. A setting that already holds its value is
/// not written: a write of a limit some other setting bounds can fail
/// even when it changes nothing. Controllers of cgroup.subtree_control
/// are added, never taken away.
enum CgroupSettingsWriter {
    /// Some settings bound others (a v1 memory limit may not pass the
    /// memory and swap limit, which may not be under it): the order that
    /// works depends on the values here, so what fails is tried again
    /// after the rest, until a pass writes nothing more.
    static func write(_ cgroup: CgroupImage, to directory: String) throws {
        var pending = cgroup.settings
        while !pending.isEmpty {
            var failed: [(setting: CgroupSetting, error: Error)] = []
            for s in pending {
                do { try apply(s, in: directory) } catch { failed.append((s, error)) }
            }
            guard let first = failed.first else { return }
            if failed.count == pending.count {
                throw CheckpointError("cannot set \(first.setting.name) of \(cgroup.membership.hierarchyName) cgroup \(cgroup.path) "
                    + "to \(first.setting.value): \(first.error)")
            }
            pending = failed.map(\.setting)
        }
    }

    private static func apply(_ setting: CgroupSetting, in directory: String) throws {
        let path = directory + "/" + setting.name
        guard let current = try? ProcFile.value(path) else {
            throw CheckpointError("\(path) does not exist here (a controller not enabled in the cgroup.subtree_control "
                + "of the cgroup above it, or one this kernel lacks)")
        }
        if setting.name == "cgroup.subtree_control" {
            let enabled = Set(current.split(separator: " "))
            let added = setting.value.split(separator: " ").filter { !enabled.contains($0) }
            if !added.isEmpty { try LocalFile.writeControl(added.map { "+" + $0 }.joined(separator: " "), to: path) }
        } else if current != setting.value {
            try LocalFile.writeControl(setting.value, to: path)
        }
    }
}
