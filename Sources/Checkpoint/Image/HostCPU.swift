import Ptrace

/// The CPU an image was made on, as far as a restore on another host
/// cares: the instruction sets its programs may have chosen code for
/// (glibc picks its string functions by them once, at start) and the
/// register state its threads may hold.
public struct HostCPU: Codable, Equatable, Sendable {
    public var model: String
    /// /proc/cpuinfo's flags, all of them, as one line: which of them a
    /// restore compares is the restore's to decide.
    public var flags: String
    /// XCR0: the XSAVE state components enabled for user space.
    public var xfeatures: UInt64

    /// This host's, or nil when /proc/cpuinfo cannot be read. A dump
    /// records it in the manifest.
    public static func current() -> HostCPU? {
        (try? CPUInfo.read()).map(HostCPU.init)
    }

    public var flagSet: Set<Substring> { Set(flags.split(separator: " ")) }
}

// Outside the struct, so that the memberwise initializer stays.
extension HostCPU {
    public init(_ info: CPUInfo) {
        self.init(model: info.model, flags: info.flags.joined(separator: " "), xfeatures: info.userXFeatures)
    }
}
