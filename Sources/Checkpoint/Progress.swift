import Foundation
import Ptrace

/// Bytes done and rate on a terminal for work that takes more than a
/// second; silent when stderr is not a terminal or when asked to be quiet.
public final class Progress: @unchecked Sendable {
    private let label: String
    private let total: UInt64
    private let output: Int32
    private let after: Double
    private let enabled: Bool
    private let lock = Lock()
    private let started = Date()
    private var done: UInt64 = 0
    private var lastPrint = Date.distantPast
    private var printed = false

    public convenience init(label: String, total: UInt64, quiet: Bool) {
        self.init(label: label, total: total, quiet: quiet, output: STDERR_FILENO, after: 1)
    }

    /// Shows on `output`, when it is a terminal, once the work has taken
    /// `after` seconds: short work finishes before a line would be worth
    /// reading.
    init(label: String, total: UInt64, quiet: Bool, output: Int32, after: Double) {
        self.label = label
        self.total = total
        self.output = output
        self.after = after
        self.enabled = !quiet && isatty(output) != 0
    }

    public func add(_ bytes: UInt64) {
        guard enabled else { return }
        lock.withLock {
            done += bytes
            let now = Date()
            guard now.timeIntervalSince(started) > after, now.timeIntervalSince(lastPrint) > 0.2 else { return }
            lastPrint = now
            printed = true
            let rate = Double(done) / now.timeIntervalSince(started)
            show("\r\(label): \(ByteCount.format(done)) of \(ByteCount.format(total)), \(ByteCount.format(UInt64(rate)))/s   ")
        }
    }

    /// Clears the line, when one was shown, for what is printed next.
    public func finish() {
        guard enabled else { return }
        lock.withLock {
            if printed { show("\r\u{1b}[K") }
            printed = false
        }
    }

    /// A terminal that cannot take the line loses it: progress is no
    /// reason to fail the work.
    private func show(_ text: String) {
        try? FileHandle(fileDescriptor: output, closeOnDealloc: false).write(contentsOf: Data(text.utf8))
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
