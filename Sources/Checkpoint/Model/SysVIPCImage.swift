import Foundation

/// The System V IPC objects of an image, in sysv-ipc.json: the shared
/// memory segments the tree's processes map (each saved once, its pages in
/// its own page file addressed by offset, and attached again by every VMA
/// that had it), and every semaphore set and message queue of the IPC
/// namespace (which of those a process uses leaves no trace to follow).
/// Objects keep their ids, which programs hold in their memory.
public struct SysVIPCImage: Codable, Equatable, Sendable {
    public var sharedMemory: [SysVSharedMemoryImage] = []
    public var semaphoreSets: [SysVSemaphoreSetImage] = []
    public var messageQueues: [SysVMessageQueueImage] = []

    public static let listFile = "sysv-ipc.json"

    public var isEmpty: Bool { sharedMemory.isEmpty && semaphoreSets.isEmpty && messageQueues.isEmpty }
}

public struct SysVSharedMemoryImage: Codable, Equatable, Sendable {
    public var id: Int32
    /// 0 is IPC_PRIVATE, and the key of a segment removed while attached.
    public var key: Int32
    public var uid: UInt32
    public var gid: UInt32
    /// The creator: kept for people reading the image; a segment made
    /// again is created by crtool.
    public var cuid: UInt32
    public var cgid: UInt32
    /// Permission bits (0o777).
    public var mode: UInt32
    public var size: UInt64
    /// Removed (IPC_RMID) while still attached: made again, attached, and
    /// removed again once every process has it.
    public var destroyed: Bool
    /// SHM_LOCK was in force.
    public var locked: Bool
    /// Page file of the contents, addressed by offset in the segment;
    /// pages not in it are zeros.
    public var pagesFile: String
    /// A segment on huge pages (SHM_HUGETLB): their size in bytes.
    public var hugePageSize: UInt64? = nil

    /// `namespace`: the id of the IPC namespace of the tree's own that
    /// holds it, nil for crtool's; ids repeat from one namespace to the next.
    public static func pagesFile(id: Int32, namespace: UInt64? = nil) -> String {
        namespace.map { "sysv-shm-ipc\($0)-\(id).img" } ?? "sysv-shm-\(id).img"
    }
}

public struct SysVSemaphoreSetImage: Codable, Equatable, Sendable {
    public var id: Int32
    public var key: Int32
    public var uid: UInt32
    public var gid: UInt32
    public var cuid: UInt32
    public var cgid: UInt32
    public var mode: UInt32
    public var values: [UInt16]
}

public struct SysVMessageQueueImage: Codable, Equatable, Sendable {
    public var id: Int32
    public var key: Int32
    public var uid: UInt32
    public var gid: UInt32
    public var cuid: UInt32
    public var cgid: UInt32
    public var mode: UInt32
    /// msg_qbytes: the most bytes of messages the queue holds.
    public var maxBytes: UInt64
    /// Oldest first.
    public var messages: [SysVMessageImage]
}

public struct SysVMessageImage: Codable, Equatable, Sendable {
    public var type: Int
    public var text: Data
}
