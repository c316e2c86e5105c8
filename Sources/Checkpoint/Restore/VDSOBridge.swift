import Ptrace

/// Whether a restore reaches this kernel's vDSO through jumps left where
/// the image's was (`crtool restore --vdso-bridge`).
public enum VDSOBridgeMode: String, Sendable, CaseIterable {
    /// Bridge when this kernel's vDSO differs from the image's.
    case auto
    /// Bridge even when it matches: to try a program on the bridge before
    /// the kernel it will be restored on is there.
    case always
    /// Refuse an image whose vDSO differs from this kernel's.
    case never
}

/// How the image's processes reach this kernel's vDSO when it is not the
/// one they started with (a kernel upgraded between the dump and the
/// restore, another host). They hold pointers into the old one (glibc
/// looks its functions up once, at start), so its place is filled with a
/// page of jumps: at each function's old offset, one to the same function
/// in this kernel's vDSO, which stays where it is, data pages and all.
/// Every other byte there is int3, so a return into the middle of old
/// vDSO code stops the process with SIGTRAP at once instead of running
/// whatever lies there.
struct VDSOBridge: Equatable, Sendable {
    struct Jump: Equatable, Sendable {
        /// Offset of the function in the image's vDSO.
        var from: UInt64
        /// Offset of the same function in this kernel's.
        var to: UInt64
    }

    /// Sorted by `from`, each at least `jumpSize` bytes before the next.
    var jumps: [Jump]

    /// `jmp *0(%rip)` and the target after it: leaves every register as
    /// it was, so the function finds its arguments.
    static let jumpSize = 14

    /// The mappings the kernel gives every process for the vDSO, by the
    /// names maps shows.
    static let mappings: [(kind: VMAKind, name: String)] = [(.vvar, "[vvar]"), (.vvarVclock, "[vvar_vclock]"), (.vdso, "[vdso]")]

    /// The page of jumps for an old vDSO of `size` bytes, this kernel's
    /// vDSO being at `target`.
    func code(size: Int, target: UInt64) -> [UInt8] {
        var bytes = [UInt8](repeating: 0xcc, count: size)
        for jump in jumps {
            let at = Int(jump.from)
            bytes.replaceSubrange(at..<(at + Self.jumpSize), with: [0xff, 0x25, 0, 0, 0, 0] + [UInt8].le(target + jump.to))
        }
        return bytes
    }
}
