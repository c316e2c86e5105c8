/// What a file of the image must look like: checked before it is used, so
/// damage is caught at open instead of half way through a restore.
public struct FileChecksum: Codable, Equatable, Sendable {
    public var size: UInt64
    /// CRC-32 of the whole file.
    public var crc32: UInt32

    public init(size: UInt64, crc32: UInt32) {
        self.size = size
        self.crc32 = crc32
    }
}
