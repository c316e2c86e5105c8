import Glibc
import XCTest

/// Network namespaces made as a container runtime makes them, for a tree
/// to be left in at the dump and given another at the restore.
extension EndToEndCase {
    /// A namespace named `crtool-ext-PID-TAG` (ip netns add): its loopback
    /// up and a bridge crtool-br0 at 192.0.2.1/24, a device crtool would
    /// not save; deleted when the test ends.
    func makeRuntimeNetworkNamespace(_ tag: String) throws -> (name: String, id: UInt64) {
        let name = "crtool-ext-\(getpid())-\(tag)"
        let commands = [["netns", "add", name], ["-n", name, "link", "set", "lo", "up"], ["-n", name, "link", "add", "crtool-br0", "type", "bridge"],
                        ["-n", name, "addr", "add", "192.0.2.1/24", "dev", "crtool-br0"], ["-n", name, "link", "set", "crtool-br0", "up"]]
        for (i, arguments) in commands.enumerated() {
            let result = try runCommand("/usr/sbin/ip", arguments, outputPrefix: scratch.newPath("ip"), timeout: 10)
            guard result.succeeded else { throw HarnessError("ip \(arguments.joined(separator: " ")) failed: \(result)") }
            if i == 0 {
                addTeardownBlock { [unowned self] in
                    _ = try? runCommand("/usr/sbin/ip", ["netns", "delete", name], outputPrefix: self.scratch.newPath("ip-delete"), timeout: 10)
                }
            }
        }
        var st = stat()
        guard stat("/run/netns/\(name)", &st) == 0 else { throw HarnessError("ip netns add \(name) made no /run/netns/\(name)") }
        return (name, UInt64(st.st_ino))
    }

    /// The nftables tables (family inet) of the namespace named `name`.
    func nftTables(inNamespace name: String) throws -> [String] {
        let listed = try runCommand("/usr/sbin/ip", ["netns", "exec", name, "nft", "list", "tables"], outputPrefix: scratch.newPath("nft"), timeout: 10)
        guard listed.succeeded else { throw HarnessError("nft list tables in \(name) failed: \(listed)") }
        return listed.stdout.split(separator: "\n").compactMap { line in
            line.hasPrefix("table inet ") ? String(line.dropFirst("table inet ".count)) : nil
        }
    }

    /// Restores `image` detached, given /run/netns/`name` for `key`; the
    /// root, `pid`, must run afterwards.
    func restore(_ image: String, pid: pid_t, givingNamespace name: String, for key: String) throws {
        try restore(image, pid: pid, givingNamespaces: [(key, "/run/netns/\(name)")])
    }
}
