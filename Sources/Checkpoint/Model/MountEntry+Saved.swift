import Ptrace

/// What a saved mount keeps of a mountinfo line, read the same way from
/// the namespace at the dump and from the copy the restore makes.
extension MountEntry {
    /// The mount's own flags crtool sets again (MountFlag).
    var ownFlags: [String] { mountOptions.filter { MountFlag(rawValue: $0) != nil } }

    /// The peer group it is in (shared:N) and the one it receives from
    /// (master:N), by the kernel's numbers, which name a group across
    /// every mount namespace.
    var peerGroup: UInt64? { group(after: "shared:") }
    var masterGroup: UInt64? { group(after: "master:") }

    private func group(after prefix: String) -> UInt64? {
        propagation.first { $0.hasPrefix(prefix) }.flatMap { UInt64($0.dropFirst(prefix.count)) }
    }

    /// Its kinds of propagation.
    var propagationKinds: [MountPropagation] {
        var kinds: [MountPropagation] = []
        if peerGroup != nil { kinds.append(.shared) }
        if masterGroup != nil { kinds.append(.slave) }
        if propagation.contains("unbindable") { kinds.append(.unbindable) }
        return kinds
    }
}
