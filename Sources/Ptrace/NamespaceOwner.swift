import Glibc

/// What nsfs tells of a namespace through ioctls on its /proc/PID/ns
/// file: the user namespace that owns it (whose capabilities rule it), a
/// user namespace's parent and the uid that made it.
extension NamespaceKind {
    private static let getUserNamespace: UInt = 0xb701 // NS_GET_USERNS
    private static let getParent: UInt = 0xb702 // NS_GET_PARENT
    private static let getType: UInt = 0xb703 // NS_GET_NSTYPE
    private static let getOwnerUID: UInt = 0xb704 // NS_GET_OWNER_UID

    /// The kind of namespace descriptor `fd` stands for; nil when it is
    /// none (not a file of nsfs), so that a descriptor handed to crtool
    /// for a namespace can be told from any other file.
    public static func of(descriptor fd: Int32) -> NamespaceKind? {
        let type = ioctl(fd, getType)
        guard type > 0 else { return nil }
        return allCases.first { $0.cloneFlag == UInt64(type) }
    }

    /// The id of the user namespace that owns the namespace `path` stands
    /// for (for a user namespace: its parent).
    public static func ownerID(path: String, pid: Int32) throws -> UInt64 {
        try related(path: path, pid: pid, request: getUserNamespace, what: "the user namespace owning")
    }

    /// The id of the parent of the user namespace `path` stands for.
    public static func parentID(path: String, pid: Int32) throws -> UInt64 {
        try related(path: path, pid: pid, request: getParent, what: "the parent of")
    }

    /// The effective uid (as crtool's namespace sees it) of the process
    /// that made the user namespace `path` stands for.
    public static func ownerUID(path: String, pid: Int32) throws -> UInt32 {
        let fd = try openNamespace(path, pid: pid)
        defer { close(fd) }
        var uid: UInt32 = 0
        guard ioctl(fd, getOwnerUID, &uid) == 0 else { throw SystemError("NS_GET_OWNER_UID of \(path)", pid: pid) }
        return uid
    }

    private static func related(path: String, pid: Int32, request: UInt, what: String) throws -> UInt64 {
        let fd = try openNamespace(path, pid: pid)
        defer { close(fd) }
        let other = ioctl(fd, request)
        guard other >= 0 else { throw SystemError("find \(what) \(path)", pid: pid) }
        defer { close(other) }
        var st = stat()
        guard fstat(other, &st) == 0 else { throw SystemError("fstat \(what) \(path)", pid: pid) }
        return UInt64(st.st_ino)
    }

    private static func openNamespace(_ path: String, pid: Int32) throws -> Int32 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open \(path)", pid: pid) }
        return fd
    }
}
