import Ptrace

/// What a saved mount keeps of a mountinfo line, read the same way from
/// the namespace at the dump and from the copy the restore makes.
extension MountEntry {
    /// The mount's own flags crtool sets again (MountFlag).
    var ownFlags: [String] { mountOptions.filter { MountFlag(rawValue: $0) != nil } }

    /// Its kinds of propagation: a peer group's number is not kept.
    var propagationKinds: [MountPropagation] {
        var kinds: [MountPropagation] = []
        if propagation.contains(where: { $0.hasPrefix("shared:") }) { kinds.append(.shared) }
        if propagation.contains(where: { $0.hasPrefix("master:") }) { kinds.append(.slave) }
        if propagation.contains("unbindable") { kinds.append(.unbindable) }
        return kinds
    }
}
