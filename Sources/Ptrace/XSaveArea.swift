import CSupport

/// A thread's register state as PTRACE_GETREGSET(NT_X86_XSTATE) gives it:
/// the XSAVE standard format, in which every state component has the same
/// offset on every CPU that has it, and the header's XSTATE_BV names the
/// components the area holds (one not named is in its initial state).
public enum XSaveArea {
    /// Where XSTATE_BV lies: the first word of the 64-byte header after
    /// the 512-byte legacy area.
    static let stateBitmapOffset = 512

    /// This CPU's area size and the components it lets user space hold,
    /// asked of the CPU once: in a VM each CPUID is a trip to the hypervisor.
    public static let hostSize = Int(cr_xsave_area_size())
    public static let hostComponents = cr_user_xfeatures()

    /// The components an area names as held; 0 for one too short to have
    /// a header.
    public static func components(of area: [UInt8]) -> UInt64 {
        guard area.count >= stateBitmapOffset + 8 else { return 0 }
        return (0..<8).reduce(UInt64(0)) { $0 | UInt64(area[stateBitmapOffset + $1]) << UInt64(8 * $1) }
    }

    /// The area made into one the kernel takes on a CPU of `size` bytes
    /// holding `components`: the kernel wants the whole area of its own
    /// size, and refuses a header naming a component it cannot hold. An
    /// area from a CPU with fewer components is padded with zeros; one
    /// from a CPU with more is cut, and what this CPU lacks is taken out
    /// of the header, so those registers start in their initial state.
    public static func fitted(_ area: [UInt8], size: Int, components: UInt64) -> [UInt8] {
        guard size > 0 else { return area }
        var fitted = area.count < size ? area + [UInt8](repeating: 0, count: size - area.count) : Array(area.prefix(size))
        let held = Self.components(of: fitted)
        if held & ~components != 0 {
            let kept = held & components
            for byte in 0..<8 { fitted[stateBitmapOffset + byte] = UInt8(truncatingIfNeeded: kept >> UInt64(8 * byte)) }
        }
        return fitted
    }
}
