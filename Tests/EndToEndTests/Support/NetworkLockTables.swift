extension EndToEndCase {
    /// The nftables tables crtool holds TCP packets in (the network lock),
    /// by name; a test's dumps and restores must leave none behind.
    func heldPacketTables() -> [String] {
        guard let result = try? runCommand("/usr/sbin/nft", ["list", "tables"], outputPrefix: scratch.newPath("nft"), timeout: 30) else { return [] }
        return result.stdout.split(separator: "\n").compactMap { line in
            line.hasPrefix("table inet crtool-") ? String(line.dropFirst("table inet ".count)) : nil
        }
    }
}
