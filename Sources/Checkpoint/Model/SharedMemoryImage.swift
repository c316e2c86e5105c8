import Ptrace

/// A shared-memory object mapped by processes of the image (MAP_SHARED
/// anonymous memory inherited across fork, a memfd): saved once, in its own
/// page file addressed by offset, and mapped again by every process that
/// had it. Listed in shared-memory.json.
public struct SharedMemoryImage: Codable, Equatable, Sendable {
    /// The object's inode at dump time; VMAImage.sharedMemory refers to it.
    public var id: UInt64
    public var size: UInt64
    /// The name /proc/PID/maps showed ("/dev/zero (deleted)", "/memfd:name (deleted)").
    public var name: String
    public var pagesFile: String
    /// A memfd's seals (F_GET_SEALS): absent for shared anonymous memory
    /// and files deleted while mapped, which take none.
    public var seals: Int32?
    /// Shared anonymous memory from the hugetlb pool (MAP_HUGETLB): its
    /// page size in bytes.
    public var hugePageSize: UInt64?

    public static let listFile = "shared-memory.json"

    public init(id: UInt64, size: UInt64, name: String, pagesFile: String, seals: Int32? = nil) {
        self.id = id
        self.size = size
        self.name = name
        self.pagesFile = pagesFile
        self.seals = seals
    }

    /// One number per object: the device (major:minor) in the top bits and
    /// the inode below, since inode numbers repeat across devices. Maps
    /// and fds name the same object with the same number.
    public static func objectID(major: UInt64, minor: UInt64, inode: UInt64) -> UInt64 {
        ((major << 8 | minor) & 0xffff) << 48 | (inode & 0xffff_ffff_ffff)
    }

    /// The same from a stat st_dev (glibc's dev_t encoding).
    public static func objectID(device: UInt64, inode: UInt64) -> UInt64 {
        let number = DeviceNumber(device)
        return objectID(major: number.major, minor: number.minor, inode: inode)
    }

    /// A memfd, as opposed to shared anonymous memory or a deleted file.
    public var isMemfd: Bool { name.hasPrefix("/memfd:") }

    /// MAP_SHARED | MAP_ANONYMOUS memory, which maps names "/dev/zero (deleted)"
    /// ("/anon_hugepage (deleted)" from the hugetlb pool).
    public var isSharedAnonymous: Bool { name.hasPrefix("/dev/zero") || name.isEmpty || name.hasPrefix(Self.hugeAnonymousName) }

    /// What maps names anonymous memory from the hugetlb pool.
    public static let hugeAnonymousName = "/anon_hugepage"

    /// The memfd name that makes /proc/PID/maps show what it showed before.
    public var memfdName: String {
        var n = Substring(name)
        if n.hasSuffix(" (deleted)") { n = n.dropLast(" (deleted)".count) }
        if n.hasPrefix("/memfd:") { return String(n.dropFirst("/memfd:".count)) }
        if n.hasPrefix("/dev/zero") || n.isEmpty { return "crtool-shared-anonymous" }
        // A file deleted while mapped: its base name.
        return String(n.split(separator: "/").last ?? "crtool-deleted-file")
    }
}

/// What an image may say a huge page is: a power of two from 64 KiB to
/// 16 GiB (the sizes CPUs have), dividing the memory it makes up.
enum HugePageSizes {
    static func valid(_ page: UInt64, size: UInt64) -> Bool {
        valid(page) && size % page == 0
    }

    static func valid(_ page: UInt64) -> Bool {
        page.nonzeroBitCount == 1 && page >= 1 << 16 && page <= 1 << 34
    }
}
