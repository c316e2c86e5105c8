import Glibc

/// Network interfaces by index and by name: an image names an interface,
/// since its index may differ where the image is restored.
public enum NetworkInterface {
    public static func name(ofIndex index: Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
        guard index > 0, if_indextoname(UInt32(index), &buffer) != nil else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// 0 when no interface has the name.
    public static func index(ofName name: String) -> Int32 {
        Int32(bitPattern: if_nametoindex(name))
    }
}
