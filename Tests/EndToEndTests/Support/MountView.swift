import Checkpoint
import Glibc
import Ptrace

/// A process's mounts as lines a test compares before a dump and after a
/// restore: place, type, source, directory, its own flags and how it
/// propagates (the kind, not the group's number, which a restore cannot
/// choose). Each mount comes after the one it sits on, siblings by place,
/// so the order the restore made them in does not count.
func mountView(of pid: Int32) throws -> [String] {
    try MountTable.parentsFirst(MountTable.read(pid: pid).sorted { $0.mountPoint < $1.mountPoint }).map { m in
        let flags = m.mountOptions.filter { MountFlag(rawValue: $0) != nil }.joined(separator: ",")
        let kinds = [("shared:", "shared"), ("master:", "slave"), ("unbindable", "unbindable")]
            .filter { prefix, _ in m.propagation.contains { $0.hasPrefix(prefix) } }.map(\.1)
        return "\(m.mountPoint) \(m.fsType) \(m.source) \(m.root) \(flags) \(kinds.joined(separator: ","))".trimmingCharacters(in: .whitespaces)
    }
}
