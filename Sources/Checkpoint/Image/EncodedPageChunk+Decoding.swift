import Codecs

/// Turning stored bytes back into pages, shared by the file reader and by
/// anything that receives chunks over a socket.
extension EncodedPageChunk {
    /// Checks the stored bytes against the header: length and data CRC.
    /// `file` and `chunk` name the source in errors.
    public func verify(file: String, chunk: Int) throws {
        guard stored.count == Int(header.storedSize) else {
            throw ImageError(file: file, chunk: chunk, field: "storedSize",
                             reason: "\(stored.count) bytes present, the header says \(header.storedSize)")
        }
        let crc = CRC32.checksum(stored)
        guard crc == header.dataCRC32 else {
            throw ImageError(file: file, chunk: chunk, field: "dataCRC32",
                             reason: "stored \(hex32(header.dataCRC32)), computed \(hex32(crc))")
        }
    }

    /// Verifies, then decompresses into exactly the pages the header lists.
    public func decoded(file: String, chunk: Int) throws -> PageChunk {
        try verify(file: file, chunk: chunk)
        return try decompressed(file: file, chunk: chunk)
    }

    /// Decompresses bytes already verified.
    func decompressed(file: String, chunk: Int) throws -> PageChunk {
        // Raw chunks are passed on as they are: copying them would be
        // decompression's cost without its work.
        if header.codec == .none, stored.count == Int(header.rawSize) {
            return PageChunk(pid: header.pid, ranges: header.ranges, data: stored)
        }
        do {
            let data = try decompress(stored, codec: header.codec, rawSize: Int(header.rawSize))
            return PageChunk(pid: header.pid, ranges: header.ranges, data: data)
        } catch let error as CodecError {
            throw ImageError(file: file, chunk: chunk, field: "data", reason: error.description)
        }
    }
}
