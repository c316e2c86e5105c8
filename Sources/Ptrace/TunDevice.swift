import Glibc

/// /dev/net/tun: an open file of it is one queue of a tun (IP) or tap
/// (Ethernet) network device, whose packets the program reads and writes
/// in place of a wire. The device is named, made and joined through the
/// file (TUNSETIFF), and lives as long as a queue is attached to it or
/// it was made persistent. These are its ioctls, by number: glibc's Swift
/// module does not carry linux/if_tun.h.
public enum TunDevice {
    public static let path = "/dev/net/tun"
    /// Its character device number, 10:200.
    public static let major: UInt32 = 10
    public static let minor: UInt32 = 200

    /// IFF_* of TUNSETIFF and TUNGETIFF.
    public static let tun: UInt16 = 0x0001
    public static let tap: UInt16 = 0x0002
    public static let napi: UInt16 = 0x0010
    public static let napiFragments: UInt16 = 0x0020
    public static let multiQueue: UInt16 = 0x0100
    public static let persist: UInt16 = 0x0800
    public static let noPacketInformation: UInt16 = 0x1000
    public static let oneQueue: UInt16 = 0x2000
    public static let virtioHeader: UInt16 = 0x4000
    /// What TUNGETIFF can report of a queue: the type, the features it
    /// was made with and whether the device is persistent.
    public static let knownFlags = tun | tap | napi | napiFragments | multiQueue | persist | noPacketInformation | oneQueue | virtioHeader

    /// What a virtio_net_hdr is, and so the header size a device starts with.
    public static let defaultVirtioHeaderSize: Int32 = 10
    /// The send buffer a device starts with (INT_MAX: no limit).
    public static let defaultSendBuffer = Int32.max

    static let setInterface: UInt = 0x4004_54ca // TUNSETIFF
    static let setPersist: UInt = 0x4004_54cb // TUNSETPERSIST
    static let setOwner: UInt = 0x4004_54cc // TUNSETOWNER
    static let setGroup: UInt = 0x4004_54ce // TUNSETGROUP
    static let getInterface: UInt = 0x8004_54d2 // TUNGETIFF
    static let getSendBuffer: UInt = 0x8004_54d3 // TUNGETSNDBUF
    static let setSendBuffer: UInt = 0x4004_54d4 // TUNSETSNDBUF
    static let getVirtioHeaderSize: UInt = 0x8004_54d7 // TUNGETVNETHDRSZ
    static let setVirtioHeaderSize: UInt = 0x4004_54d8 // TUNSETVNETHDRSZ
    static let getFilter: UInt = 0x8010_54db // TUNGETFILTER, struct sock_fprog
    static let getDeviceNamespace: UInt = 0x54e3 // TUNGETDEVNETNS

    /// The device a queue is attached to.
    public struct Interface: Equatable, Sendable {
        public var name: String
        /// IFF_* as TUNGETIFF reports them (`persist` among them).
        public var flags: UInt16

        public init(name: String, flags: UInt16) {
            self.name = name
            self.flags = flags
        }
    }

    /// The interface queue `fd` is attached to; nil for one that is not
    /// (opened and never attached, or detached from a multi-queue device).
    public static func interface(of fd: Int32) throws -> Interface? {
        var request = [UInt8](repeating: 0, count: 40) // struct ifreq
        let r = request.withUnsafeMutableBytes { ioctl(fd, getInterface, $0.baseAddress!) }
        if r != 0 {
            if errno == EBADFD { return nil }
            throw SystemError("TUNGETIFF")
        }
        let name = String(decoding: request[0..<16].prefix { $0 != 0 }, as: UTF8.self)
        return Interface(name: name, flags: UInt16(request[16]) | UInt16(request[17]) << 8)
    }

    /// Attaches queue `fd` to the device `name`, making the device in the
    /// network namespace the file was opened in when there is none.
    public static func attach(_ fd: Int32, to name: String, flags: UInt16) throws {
        var request = [UInt8](repeating: 0, count: 40)
        let bytes = Array(name.utf8)
        guard bytes.count < 16 else { throw SystemError("TUNSETIFF \(name)", errno: EINVAL) }
        request.replaceSubrange(0..<bytes.count, with: bytes)
        request[16] = UInt8(flags & 0xff)
        request[17] = UInt8(flags >> 8)
        let r = request.withUnsafeMutableBytes { ioctl(fd, setInterface, $0.baseAddress!) }
        if r != 0 { throw SystemError("TUNSETIFF \(name)") }
    }

    /// Whether the device outlives its last queue.
    public static func setPersistent(_ fd: Int32, _ persistent: Bool) throws {
        if ioctl(fd, setPersist, CInt(persistent ? 1 : 0)) != 0 { throw SystemError("TUNSETPERSIST \(persistent ? 1 : 0)") }
    }

    /// The user and group allowed to attach to the device besides those
    /// with CAP_NET_ADMIN.
    public static func setOwner(_ fd: Int32, uid: UInt32) throws {
        if ioctl(fd, setOwner, CInt(bitPattern: uid)) != 0 { throw SystemError("TUNSETOWNER \(uid)") }
    }

    public static func setGroup(_ fd: Int32, gid: UInt32) throws {
        if ioctl(fd, setGroup, CInt(bitPattern: gid)) != 0 { throw SystemError("TUNSETGROUP \(gid)") }
    }

    public static func sendBuffer(of fd: Int32) throws -> Int32 {
        try intValue(fd, getSendBuffer, "TUNGETSNDBUF")
    }

    public static func setSendBuffer(_ fd: Int32, _ bytes: Int32) throws {
        try setIntValue(fd, setSendBuffer, bytes, "TUNSETSNDBUF")
    }

    /// The size of the virtio header before each packet of a device made
    /// with `virtioHeader`.
    public static func virtioHeaderSize(of fd: Int32) throws -> Int32 {
        try intValue(fd, getVirtioHeaderSize, "TUNGETVNETHDRSZ")
    }

    public static func setVirtioHeaderSize(_ fd: Int32, _ bytes: Int32) throws {
        try setIntValue(fd, setVirtioHeaderSize, bytes, "TUNSETVNETHDRSZ")
    }

    /// The number of instructions of the classic BPF filter a tap device
    /// was given (TUNATTACHFILTER); 0 for none.
    public static func filterLength(of fd: Int32) throws -> UInt16 {
        var program = [UInt8](repeating: 0, count: 16) // struct sock_fprog
        let r = program.withUnsafeMutableBytes { ioctl(fd, getFilter, $0.baseAddress!) }
        if r != 0 { throw SystemError("TUNGETFILTER") }
        return UInt16(program[0]) | UInt16(program[1]) << 8
    }

    /// A descriptor of the network namespace the device of queue `fd` is
    /// in, which need not be where the file was opened.
    public static func deviceNamespace(of fd: Int32) throws -> Int32 {
        let ns = ioctl(fd, getDeviceNamespace)
        if ns < 0 { throw SystemError("TUNGETDEVNETNS") }
        return ns
    }

    private static func intValue(_ fd: Int32, _ request: UInt, _ name: String) throws -> Int32 {
        var value: Int32 = 0
        if ioctl(fd, request, &value) != 0 { throw SystemError(name) }
        return value
    }

    private static func setIntValue(_ fd: Int32, _ request: UInt, _ value: Int32, _ name: String) throws {
        var value = value
        if ioctl(fd, request, &value) != 0 { throw SystemError(name) }
    }
}
