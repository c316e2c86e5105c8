import Foundation
/// One integer socket option (setsockopt level and name) with its value,
/// named for people reading the image.
public struct SocketOptionValue: Codable, Equatable, Sendable {
    public var name: String
    public var level: Int32
    public var option: Int32
    public var value: Int32
    /// The option's bytes for one that is not an int (SO_LINGER, the
    /// timeouts, SO_BINDTODEVICE, TCP_CONGESTION); `value` is 0 then.
    public var bytes: Data?

    public init(name: String, level: Int32, option: Int32, value: Int32, bytes: Data? = nil) {
        self.name = name
        self.level = level
        self.option = option
        self.value = value
        self.bytes = bytes
    }
}
