import CSupport
import Glibc

/// The extended attributes of a file, read without following a symbolic
/// link: what a tmpfs holds beyond bytes and modes (a download's origin,
/// a file capability, a POSIX ACL as system.posix_acl_access).
public enum ExtendedAttributes {
    /// Each attribute of `path` by name; empty where the file system keeps
    /// none.
    public static func read(_ path: String) throws -> [String: [UInt8]] {
        let names = try listNames(path)
        var found: [String: [UInt8]] = [:]
        for name in names {
            let size = lgetxattr(path, name, nil, 0)
            if size < 0, errno == ENODATA { continue } // Removed meanwhile.
            guard size >= 0 else { throw SystemError("lgetxattr \(name) of \(path)") }
            var value = [UInt8](repeating: 0, count: max(size, 1))
            let got = value.withUnsafeMutableBytes { lgetxattr(path, name, $0.baseAddress, size) }
            guard got >= 0 else { throw SystemError("lgetxattr \(name) of \(path)") }
            found[name] = Array(value.prefix(got))
        }
        return found
    }

    private static func listNames(_ path: String) throws -> [String] {
        let size = llistxattr(path, nil, 0)
        if size < 0, errno == ENOTSUP { return [] }
        guard size >= 0 else { throw SystemError("llistxattr \(path)") }
        guard size > 0 else { return [] }
        var buffer = [CChar](repeating: 0, count: size)
        let got = buffer.withUnsafeMutableBufferPointer { llistxattr(path, $0.baseAddress, size) }
        guard got >= 0 else { throw SystemError("llistxattr \(path)") }
        return buffer.prefix(got).split(separator: 0).map { String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
    }
}
