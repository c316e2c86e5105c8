extension PageChunk {
    /// Objects stored by offset rather than by address (shared-memory
    /// objects, System V segments) hold `size` bytes: a range past the
    /// last page would write beyond the object, so the image is refused
    /// before anything is written.
    func requireWithin(size: UInt64, file: String, object: String) throws {
        let limit = (size + 4095) & ~4095
        for range in ranges {
            guard let end = range.endAddress, end <= limit else {
                throw ImageError(file: file, field: "ranges", reason: "pages at offset \(range.address) lie beyond the \(object)'s \(size) bytes")
            }
        }
    }
}
