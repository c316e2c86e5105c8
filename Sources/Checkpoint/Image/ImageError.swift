/// Something wrong with the contents of an image.
///
/// Damaged and hostile images are expected input, so every check names the
/// file, the chunk when there is one, and the field that failed: enough for
/// a person to find the bad byte, and for the tool to stop before trusting
/// anything.
public struct ImageError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file name inside the image directory.
    public var file: String
    /// The index of the page chunk, for errors inside a page file.
    public var chunk: Int?
    /// The field, as a JSON coding path ("processes[0].pid") or a chunk
    /// header field ("dataCRC32").
    public var field: String
    public var reason: String

    public init(file: String, chunk: Int? = nil, field: String, reason: String) {
        self.file = file
        self.chunk = chunk
        self.field = field
        self.reason = reason
    }

    public var description: String {
        var text = "image file \(file), "
        if let chunk { text += "chunk \(chunk) " }
        text += "field \(field): \(reason)"
        return text
    }
}
