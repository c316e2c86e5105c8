import CSupport
import Foundation

/// What /proc/cpuinfo says of the first CPU, and the register state the
/// kernel lets user space hold: what a program may have chosen code for
/// when it started.
public struct CPUInfo: Sendable, Equatable {
    /// "model name", or the vendor where there is none.
    public var model: String
    /// The "flags" line: the features the kernel found and lets programs see.
    public var flags: [String]
    /// XCR0: the XSAVE state components enabled for user space.
    public var userXFeatures: UInt64

    public static func read() throws -> CPUInfo {
        // The first CPU's block is all that is parsed, and a few KiB.
        let text = String(decoding: try ProcFile.read("/proc/cpuinfo", limit: 16384), as: UTF8.self)
        return parse(text, userXFeatures: cr_user_xfeatures())
    }

    /// The first CPU's block: the lines up to the first empty one.
    static func parse(_ text: String, userXFeatures: UInt64) -> CPUInfo {
        var model = ""
        var vendor = ""
        var flags: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: " \t")
            let value = line[line.index(after: colon)...].trimmingCharacters(in: " \t")
            switch key {
            case "model name": model = value
            case "vendor_id": vendor = value
            case "flags": flags = value.split(separator: " ").map(String.init)
            default: break
            }
        }
        return CPUInfo(model: model.isEmpty ? vendor : model, flags: flags, userXFeatures: userXFeatures)
    }
}
