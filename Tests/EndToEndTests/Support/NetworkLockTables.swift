import Foundation
import Glibc

extension EndToEndCase {
    /// The nftables tables crtool holds TCP packets in (the network lock),
    /// by name; a test's dumps and restores must leave none behind.
    func heldPacketTables() -> [String] {
        guard let result = try? runCommand("/usr/sbin/nft", ["list", "tables"], outputPrefix: scratch.newPath("nft"), timeout: 30) else { return [] }
        return result.stdout.split(separator: "\n").compactMap { line in
            line.hasPrefix("table inet crtool-") ? String(line.dropFirst("table inet ".count)) : nil
        }
    }

    /// Removes the tables this test's dumps made (crtool-PID-MILLISECONDS,
    /// made at or after `start`) and no restore removed: a test that
    /// failed between a dump and its restore would otherwise leave ports
    /// whose packets are dropped for the tests after it.
    func removeNetworkLocks(madeSince start: Date) {
        guard access("/usr/sbin/nft", X_OK) == 0 else { return }
        let since = UInt64(start.timeIntervalSince1970 * 1000)
        for table in heldPacketTables() where (table.split(separator: "-").last.flatMap { UInt64($0) } ?? 0) >= since {
            _ = try? runCommand("/usr/sbin/nft", ["delete", "table", "inet", table], outputPrefix: scratch.newPath("nft"), timeout: 30)
        }
    }

    /// Runs an nftables script (rules a test sets up for itself).
    func runNft(_ script: String) throws {
        let file = scratch.newPath("rules.nft")
        try script.write(toFile: file, atomically: true, encoding: .utf8)
        let result = try runCommand("/usr/sbin/nft", ["-f", file], outputPrefix: scratch.newPath("nft"), timeout: 30)
        guard result.succeeded else { throw HarnessError("nft: \(result)") }
    }
}
