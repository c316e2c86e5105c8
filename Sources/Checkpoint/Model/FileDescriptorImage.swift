/// One open file descriptor of a process.
public struct FileDescriptorImage: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable {
        case regular, directory, characterDevice, terminal
    }
    public var fd: Int32
    public var kind: Kind
    public var path: String
    /// open(2) flags including O_APPEND; O_CLOEXEC is kept in closeOnExec.
    public var flags: Int32
    public var closeOnExec: Bool
    public var position: Int64
    /// For devices: the device number the path had at dump time.
    public var device: UInt64?
}
