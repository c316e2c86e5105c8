import Foundation

/// Deterministic test inputs, so failures reproduce exactly.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed &+ 0x9E37_79B9_7F4A_7C15
    }

    /// splitmix64: tiny and good enough for test data.
    mutating func next() -> UInt64 {
        state = state &+ 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

enum TestData {
    static func random(_ count: Int, seed: UInt64) -> [UInt8] {
        var generator = SeededGenerator(seed: seed)
        var bytes = [UInt8]()
        bytes.reserveCapacity(count + 8)
        while bytes.count < count {
            let word = generator.next()
            for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: word >> shift)) }
        }
        return Array(bytes.prefix(count))
    }

    static func zeros(_ count: Int) -> [UInt8] {
        [UInt8](repeating: 0, count: count)
    }

    /// Repetitive words, like heap pages full of strings and small integers.
    static func text(_ count: Int, seed: UInt64) -> [UInt8] {
        let words = ["process", "memory", "page", "checkpoint", "restore", "0", "1", "42", "\n", " ", "the", "of"]
        var generator = SeededGenerator(seed: seed)
        var bytes = [UInt8]()
        bytes.reserveCapacity(count + 16)
        while bytes.count < count {
            bytes += Array(words[Int(generator.next() % UInt64(words.count))].utf8)
        }
        return Array(bytes.prefix(count))
    }

    /// Half zero pages, half random ones: what a typical heap looks like to
    /// the compressor.
    static func halfZero(_ count: Int, seed: UInt64) -> [UInt8] {
        var bytes = random(count, seed: seed)
        var page = 0
        while page * 4096 < count {
            if page % 2 == 0 {
                let end = min(count, (page + 1) * 4096)
                bytes.replaceSubrange(page * 4096..<end, with: repeatElement(0, count: end - page * 4096))
            }
            page += 1
        }
        return bytes
    }

    static func temporaryDirectory(_ label: String = #function) -> String {
        let base = NSTemporaryDirectory() + "crtool-tests-\(getpid())-\(label.filter { $0.isLetter || $0.isNumber })-\(UInt32.random(in: 0...UInt32.max))"
        try! FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        return base
    }
}
