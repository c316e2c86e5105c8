/// A device number as stat gives it (glibc's dev_t encoding), split into
/// the major number, which names the driver, and the minor, its unit: what
/// tells a terminal from another device, and one terminal from another.
public struct DeviceNumber: CustomStringConvertible, Sendable {
    public let major: UInt64
    public let minor: UInt64

    public init(_ device: UInt64) {
        major = ((device >> 8) & 0xfff) | ((device >> 32) & ~UInt64(0xfff))
        minor = (device & 0xff) | ((device >> 12) & ~UInt64(0xff))
    }

    public var description: String { "\(major):\(minor)" }
}
