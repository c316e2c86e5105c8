/// The attributes (struct nlattr, each a 4-byte header and its payload
/// padded to 4) that follow a netlink message's fixed part, by type; a
/// type given twice keeps its last payload. NLA_F_NESTED and
/// NLA_F_NET_BYTEORDER are masked off the types.
public struct NetlinkAttributes: Sendable {
    public private(set) var payloads: [UInt16: [UInt8]] = [:]

    public init(_ bytes: [UInt8], from offset: Int) {
        var at = offset
        while at + 4 <= bytes.count {
            let length = Int(bytes.le(UInt16.self, at: at))
            guard length >= 4, at + length <= bytes.count else { break }
            payloads[bytes.le(UInt16.self, at: at + 2) & 0x3fff] = Array(bytes[(at + 4)..<(at + length)])
            at += (length + 3) & ~3
        }
    }

    public subscript(type: UInt16) -> [UInt8]? { payloads[type] }

    public func uint32(_ type: UInt16) -> UInt32? {
        guard let p = payloads[type], p.count >= 4 else { return nil }
        return p.le(UInt32.self, at: 0)
    }

    public func int32(_ type: UInt16) -> Int32? { uint32(type).map { Int32(bitPattern: $0) } }

    /// A NUL-terminated string attribute.
    public func string(_ type: UInt16) -> String? {
        payloads[type].map { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// One attribute, padded, for a request.
    public static func encode(_ type: UInt16, _ payload: [UInt8]) -> [UInt8] {
        let length = 4 + payload.count
        return [UInt8].le(UInt16(length), type) + payload + [UInt8](repeating: 0, count: (4 - length % 4) % 4)
    }

    public static func encode(_ type: UInt16, _ value: UInt32) -> [UInt8] { encode(type, [UInt8].le(value)) }

    public static func encode(_ type: UInt16, string: String) -> [UInt8] { encode(type, Array(string.utf8) + [0]) }

    /// An attribute holding others (NLA_F_NESTED set, as the kernel's
    /// strict validation of new attributes asks).
    public static func nested(_ type: UInt16, _ inner: [UInt8]) -> [UInt8] { encode(type | 0x8000, inner) }
}
