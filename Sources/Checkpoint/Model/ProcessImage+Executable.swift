extension ProcessImage {
    /// /proc/PID/exe of a program deleted (or replaced by an upgrade)
    /// since it started ends so; nothing opens that path any more.
    var executableIsDeleted: Bool { executable.hasSuffix(" (deleted)") }

    /// The saved object (shared-memory id) a deleted executable's
    /// mappings are restored from: restore makes /proc/PID/exe that same
    /// memfd. nil when the executable is on disk, or is not mapped.
    var deletedExecutableObject: UInt64? {
        Self.deletedExecutableObject(executable: executable, vmas: vmas)
    }

    static func deletedExecutableObject(executable: String, vmas: [VMAImage]) -> UInt64? {
        guard executable.hasSuffix(" (deleted)") else { return nil }
        return vmas.first { $0.path == executable && $0.sharedMemory != nil }?.sharedMemory
    }
}
