/// The address a unix socket is bound to: a file system path or a name in
/// the abstract namespace. Abstract names are bytes; they are kept as text
/// with \xHH escapes for anything but printable ASCII, so the image stays
/// readable and exact.
public struct UnixSocketName: Codable, Equatable, Sendable {
    /// The path as the program gave it to bind(2) (maybe relative).
    public var path: String?
    /// The path resolved at dump time, in crtool's view, checked to be the
    /// socket's own file: where the restore binds.
    public var resolvedPath: String?
    /// Owner and mode of the socket file, given back after binding.
    public var fileMode: UInt32?
    public var fileUID: UInt32?
    public var fileGID: UInt32?
    /// The abstract name without its leading NUL, escaped.
    public var abstract: String?

    public init(path: String? = nil, abstract: String? = nil) {
        self.path = path
        self.abstract = abstract
    }

    /// Escapes bytes so that `unescape` gives them back.
    public static func escape(_ bytes: [UInt8]) -> String {
        var out = ""
        for b in bytes {
            if b >= 0x20 && b < 0x7f && b != UInt8(ascii: "\\") {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                out += "\\x" + (b < 16 ? "0" : "") + String(b, radix: 16)
            }
        }
        return out
    }

    /// nil when the text is not a valid escaped name.
    public static func unescape(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\") {
                guard i + 3 < bytes.count, bytes[i + 1] == UInt8(ascii: "x"),
                      let v = UInt8(String(decoding: bytes[(i + 2)..<(i + 4)], as: UTF8.self), radix: 16) else { return nil }
                out.append(v)
                i += 4
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }
}
