import Codecs
import Foundation

/// The table of contents of an image: what was dumped, on which kernel, and
/// the size and CRC of every other file, so that nothing in the image is
/// used before it has been checked against this list.
public struct Manifest: Codable, Equatable, Sendable {
    /// Raised whenever a change would make older tools misread an image;
    /// images from a newer format are refused rather than half understood.
    public static let currentFormatVersion = 10
    /// What an image that stands alone is written as, so that tools that
    /// read only version 1 still restore it; an image on top of a parent,
    /// a pre-dump or an image whose writes are tracked is version 2, which
    /// they would misread.
    public static let standaloneFormatVersion = 1
    /// An image with processes in namespaces of their own
    /// (namespaces.json): a tool that reads only up to version 2 would
    /// bring them back in its own.
    public static let namespacesFormatVersion = 3
    /// An image whose IPC namespace of the tree's own holds System V
    /// objects (namespaces.json lists them): a tool that reads only up to
    /// version 3 would make the namespace again empty.
    public static let namespaceSysVIPCFormatVersion = 4
    /// An image whose network namespace of the tree's own has veth
    /// devices or routes: a tool that reads only up to version 4 would
    /// make the namespace again with its loopback alone.
    public static let namespaceDevicesFormatVersion = 5
    /// An image with a user namespace of the tree's own, and namespaces
    /// made inside it (`NamespaceImage.owner`): a tool that reads only up
    /// to version 5 would make those in its own user namespace.
    public static let userNamespaceFormatVersion = 6
    /// An image with a mount namespace copied from another of the tree's
    /// (`NamespaceImage.copiedFrom`): a tool that reads only up to version
    /// 6 would make it from its own and give it a second copy of each
    /// file system the two shared.
    public static let mountNamespaceCopyFormatVersion = 7
    /// An image with a packet socket's receive ring (`PacketRingImage`):
    /// a tool that reads only up to version 7 would make the socket
    /// without it.
    public static let packetRingFormatVersion = 8
    /// An image with a receive ring of TPACKET_V1 or V2
    /// (`PacketRingImage.frameHeader`): a tool that reads only up to
    /// version 8 would take its frames for V3's blocks.
    public static let packetFrameRingFormatVersion = 9
    /// An image with a pipe in packet mode (O_DIRECT), or packets in a
    /// pipe (`PipeState.packets`): a tool that reads only up to version 9
    /// would make the pipe's descriptions without packet mode and put its
    /// packets back as one run of bytes.
    public static let packetPipeFormatVersion = 10
    public static let toolName = "crtool 0.1.0"

    public var formatVersion: Int
    public var tool: String
    public var kernelRelease: String
    public var architecture: String
    /// The CPU of the host the image was made on; nil in images made
    /// before it was recorded.
    public var cpu: HostCPU?
    /// The functions of the dump host's vDSO, by name, as offsets into it
    /// (VDSOSymbols); nil in images made before they were recorded.
    public var vdsoSymbols: [String: UInt64]?
    /// ISO 8601, UTC.
    public var createdAt: String
    public var codec: Codec
    /// The process tree, parents before children.
    public var processes: [ProcessEntry]
    /// Every other file of the image by file name. Filled in by
    /// `ImageDirectory.commit`.
    public var files: [String: FileChecksum]
    /// The parent image directory of an incremental dump, as the dump
    /// was given it: a relative path is relative to this image's
    /// directory.
    public var parent: String?
    /// The parent's manifest.json as this image was made on it, so that a
    /// parent replaced or made again since is refused.
    public var parentManifest: FileChecksum?
    /// A pre-dump: pages only, the base of a later dump, never restored.
    public var preDump: Bool?
    /// A dump of a tree left running whose writes are tracked since
    /// (dump --track-mem): a whole image, restored like any, that the
    /// next image can also be made on.
    public var tracksWrites: Bool?

    public var isPreDump: Bool { preDump == true }
    /// Whether the next image can be made on this one: it tracked the
    /// tree's writes from when its pages were read.
    public var canBeParent: Bool { isPreDump || tracksWrites == true }

    /// Defaults describe the running host and the current moment, so a dump
    /// only supplies what it knows: the tree and the codec.
    public init(
        formatVersion: Int = Manifest.standaloneFormatVersion,
        tool: String = Manifest.toolName,
        kernelRelease: String = HostInfo.kernelRelease,
        architecture: String = HostInfo.architecture,
        cpu: HostCPU? = nil,
        vdsoSymbols: [String: UInt64]? = nil,
        createdAt: String = HostInfo.timestamp(),
        codec: Codec = .default,
        processes: [ProcessEntry] = [],
        files: [String: FileChecksum] = [:],
        parent: String? = nil,
        parentManifest: FileChecksum? = nil,
        preDump: Bool? = nil,
        tracksWrites: Bool? = nil
    ) {
        self.formatVersion = formatVersion
        self.tool = tool
        self.kernelRelease = kernelRelease
        self.architecture = architecture
        self.cpu = cpu
        self.vdsoSymbols = vdsoSymbols
        self.createdAt = createdAt
        self.codec = codec
        self.processes = processes
        self.files = files
        self.parent = parent
        self.parentManifest = parentManifest
        self.preDump = preDump
        self.tracksWrites = tracksWrites
        if parent != nil || preDump == true || tracksWrites == true { self.formatVersion = max(formatVersion, 2) }
    }
}
