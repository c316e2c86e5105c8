import CSupport
import Glibc

/// The protocol of a socket named by a path such as /proc/PID/fd/FD, from
/// the sockfs attribute "system.sockprotoname" ("UNIX", "UNIX-STREAM",
/// "TCP", "TCPv6", "UDP", "UDPv6", "NETLINK", …). It needs no copy of the
/// descriptor, so telling socket kinds apart costs one system call.
public enum SocketProtocol {
    public static func name(of path: String) -> String? {
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = path.withCString { p in
            "system.sockprotoname".withCString { name in
                buffer.withUnsafeMutableBytes { raw in
                    cr_syscall6(191, UInt64(UInt(bitPattern: p)), UInt64(UInt(bitPattern: name)),
                                UInt64(UInt(bitPattern: raw.baseAddress)), UInt64(raw.count), 0, 0) // getxattr
                }
            }
        }
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].prefix(while: { $0 != 0 }), as: UTF8.self)
    }
}
