import Foundation

/// Facts about the running host that a manifest records, so a restore can
/// tell the user when an image comes from a different kernel or machine.
public enum HostInfo {
    /// As `uname -r` prints it, or "unknown" when /proc is not mounted.
    public static var kernelRelease: String {
        guard let text = try? String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8) else {
            return "unknown"
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// As `uname -m` prints it.
    public static var architecture: String {
        #if arch(x86_64)
        return "x86_64"
        #elseif arch(arm64)
        return "aarch64"
        #else
        return "unknown"
        #endif
    }

    /// The current time in ISO 8601, UTC; with milliseconds where two
    /// times a moment apart must read differently.
    public static func timestamp(_ date: Date = Date(), milliseconds: Bool = false) -> String {
        let formatter = ISO8601DateFormatter()
        if milliseconds { formatter.formatOptions.insert(.withFractionalSeconds) }
        return formatter.string(from: date)
    }
}
