/// Where a chunk sits in a page file, with its validated header: enough to
/// plan a restore (which pages, of which process) before reading any data.
public struct PageChunkLocation: Sendable, Equatable {
    /// Position of the chunk in its file, from 0.
    public var index: Int
    /// Which file of a striped stream holds it, from 0.
    public var part: Int
    /// File offset of the chunk's header.
    public var offset: UInt64
    public var header: PageChunkHeader

    public init(index: Int, offset: UInt64, header: PageChunkHeader, part: Int = 0) {
        self.index = index
        self.part = part
        self.offset = offset
        self.header = header
    }

    public var pid: Int32 { header.pid }
    public var ranges: [PageRange] { header.ranges }
    public var pageCount: UInt64 { header.pageCount }
    /// File offset of the stored bytes.
    public var dataOffset: UInt64 { offset + UInt64(header.encodedSize) }
    /// Header, range table and stored bytes.
    public var encodedSize: UInt64 { UInt64(header.encodedSize) + header.storedSize }
}
