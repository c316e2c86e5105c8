import Foundation

/// A NUMA memory policy (set_mempolicy for a thread, mbind for a range):
/// which nodes the pages come from and how they are spread over them.
/// Absent in an image: the default policy (local allocation).
public struct MemoryPolicy: Codable, Equatable, Sendable {
    /// MPOL_PREFERRED, MPOL_BIND, MPOL_INTERLEAVE, ... with the mode flags
    /// (MPOL_F_STATIC_NODES, MPOL_F_RELATIVE_NODES, MPOL_F_NUMA_BALANCING)
    /// as get_mempolicy gives them.
    public var mode: Int32
    /// The node mask, 64 nodes a word.
    public var nodes: [UInt64]
}

/// get_mempolicy's and set_mempolicy's terms.
enum MemoryPolicyLayout {
    /// Nodes a mask covers: more than any machine has.
    static let maxNodes: UInt64 = 1024
    static var maskBytes: Int { Int(maxNodes / 8) }
    /// get_mempolicy flag: the policy of the VMA at an address.
    static let policyOfAddress: UInt64 = 2

    /// What get_mempolicy wrote (mode, then the mask), nil for the default.
    static func decode(mode: [UInt8], mask: [UInt8]) -> MemoryPolicy? {
        let value = mode.le(Int32.self, at: 0)
        guard value != 0 else { return nil }
        var words = (0..<(mask.count / 8)).map { mask.le(UInt64.self, at: $0 * 8) }
        while words.last == 0 { words.removeLast() }
        return MemoryPolicy(mode: value, nodes: words)
    }

    static func maskBytes(of policy: MemoryPolicy) -> [UInt8] {
        let bytes = [UInt8].le(contentsOf: policy.nodes)
        return bytes + [UInt8](repeating: 0, count: max(0, maskBytes - bytes.count))
    }
}
