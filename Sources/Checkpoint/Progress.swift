import Foundation
import Ptrace

/// Bytes done and rate on a terminal for work that takes more than a
/// second; silent when stderr is not a terminal or when asked to be quiet.
public final class Progress: @unchecked Sendable {
    private let label: String
    private let total: UInt64
    private let enabled: Bool
    private let lock = Lock()
    private let started = Date()
    private var done: UInt64 = 0
    private var lastPrint = Date.distantPast
    private var printed = false

    public init(label: String, total: UInt64, quiet: Bool) {
        self.label = label
        self.total = total
        self.enabled = !quiet && isatty(2) != 0
    }

    public func add(_ bytes: UInt64) {
        guard enabled else { return }
        lock.withLock {
            done += bytes
            let now = Date()
            guard now.timeIntervalSince(started) > 1, now.timeIntervalSince(lastPrint) > 0.2 else { return }
            lastPrint = now
            printed = true
            let rate = Double(done) / now.timeIntervalSince(started)
            FileHandle.standardError.write("\r\(label): \(ByteCount.format(done)) of \(ByteCount.format(total)), \(ByteCount.format(UInt64(rate)))/s   ".data(using: .utf8)!)
        }
    }

    public func finish() {
        guard enabled else { return }
        lock.withLock {
            if printed { FileHandle.standardError.write("\r\u{1b}[K".data(using: .utf8)!) }
        }
    }
}

public enum ByteCount {
    public static func format(_ bytes: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
    }

    /// A size as CRIU's options take it: a number of bytes, or one with a
    /// K, M or G suffix (powers of 1024). nil for anything else.
    public static func parse(_ text: String) -> UInt64? {
        let multipliers: [Character: UInt64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        var digits = Substring(text.uppercased())
        var multiplier: UInt64 = 1
        if let last = digits.last, let m = multipliers[last] {
            multiplier = m
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), let n = UInt64(digits) else { return nil }
        let (product, overflow) = n.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : product
    }
}
