/// One integer socket option (setsockopt level and name) with its value,
/// named for people reading the image.
public struct SocketOptionValue: Codable, Equatable, Sendable {
    public var name: String
    public var level: Int32
    public var option: Int32
    public var value: Int32

    public init(name: String, level: Int32, option: Int32, value: Int32) {
        self.name = name
        self.level = level
        self.option = option
        self.value = value
    }
}
