import Codecs

/// The header in front of every page chunk, in files and on the wire.
///
/// Layout, all integers little-endian:
///
///     offset size field
///          0    4 magic "CRPG"
///          4    2 version (1)
///          6    1 codec of the stored bytes: 0 none, 1 zlib, 2 zstd
///          7    1 flags, must be 0 (room for later use without a new version)
///          8    4 pid (Int32)
///         12    4 rangeCount (UInt32, 1...maxRanges)
///         16    8 rawSize: 4096 × the pages of all ranges
///         24    8 storedSize: bytes that follow the range table
///         32    4 dataCRC32: CRC-32 of the stored bytes
///         36    4 headerCRC32: CRC-32 of bytes 0..<36 and of the range table
///         40 12×n range table: address (UInt64, page-aligned), pageCount (UInt32)
///           then storedSize bytes: the pages, compressed with the codec or raw
///
/// A chunk is self-contained, so a reader can walk a file header by header,
/// and a stream of chunks is the same over a socket as on disk. The header
/// has its own CRC so that sizes and addresses are trusted before any
/// allocation or seek depends on them; the data CRC lets chunks be verified
/// without decompressing.
public struct PageChunkHeader: Equatable, Sendable {
    public static let magic: [UInt8] = Array("CRPG".utf8)
    public static let version: UInt16 = 1
    public static let fixedSize = 40
    public static let rangeEntrySize = 12
    /// Bounds what one chunk may make a reader allocate. Chunks are written at
    /// 1–4 MiB; the margin leaves room without allowing absurd sizes.
    public static let maxRawSize = 64 << 20
    public static let maxRanges = maxRawSize / PageRange.pageSize

    public var pid: Int32
    /// How the stored bytes are encoded: `.none` when compression did not help.
    public var codec: CodecKind
    public var ranges: [PageRange]
    public var rawSize: UInt64
    public var storedSize: UInt64
    public var dataCRC32: UInt32

    public init(pid: Int32, codec: CodecKind, ranges: [PageRange], rawSize: UInt64, storedSize: UInt64, dataCRC32: UInt32) {
        self.pid = pid
        self.codec = codec
        self.ranges = ranges
        self.rawSize = rawSize
        self.storedSize = storedSize
        self.dataCRC32 = dataCRC32
    }

    /// Header and range table, without the stored bytes.
    public var encodedSize: Int { Self.fixedSize + ranges.count * Self.rangeEntrySize }

    public var pageCount: UInt64 { ranges.reduce(0) { $0 + UInt64($1.pageCount) } }

    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(encodedSize)
        bytes += Self.magic
        bytes.appendLittleEndian(Self.version)
        bytes.append(Self.codecByte(codec))
        bytes.append(0)
        bytes.appendLittleEndian(pid)
        bytes.appendLittleEndian(UInt32(ranges.count))
        bytes.appendLittleEndian(rawSize)
        bytes.appendLittleEndian(storedSize)
        bytes.appendLittleEndian(dataCRC32)
        var table: [UInt8] = []
        table.reserveCapacity(ranges.count * Self.rangeEntrySize)
        for range in ranges {
            table.appendLittleEndian(range.address)
            table.appendLittleEndian(range.pageCount)
        }
        bytes.appendLittleEndian(CRC32.update(CRC32.checksum(bytes), table))
        bytes += table
        return bytes
    }

    static func codecByte(_ codec: CodecKind) -> UInt8 {
        switch codec {
        case .none: return 0
        case .zlib: return 1
        case .zstd: return 2
        }
    }

    static func codec(byte: UInt8) -> CodecKind? {
        switch byte {
        case 0: return CodecKind.none
        case 1: return .zlib
        case 2: return .zstd
        default: return nil
        }
    }
}
