/// The fixtures' line protocol is "<word> <number> …"; these read it.
enum LogLines {
    static func number(in line: String, after prefix: String) -> Int? {
        guard line.hasPrefix(prefix + " ") else { return nil }
        return line.dropFirst(prefix.count + 1).split(separator: " ").first.flatMap { Int($0) }
    }

    static func numbers(in lines: [String], after prefix: String) -> [Int] {
        lines.compactMap { number(in: $0, after: prefix) }
    }

    /// Where a sequence that must count up by one breaks (a reset, a gap or a
    /// repeat), as a message; nil when it does not.
    static func breakInSequence(_ values: [Int], startingAt first: Int? = nil) -> String? {
        if let first, let head = values.first, head != first {
            return "starts at \(head), expected \(first)"
        }
        for (a, b) in zip(values, values.dropFirst()) where b != a + 1 {
            return "\(a) is followed by \(b)"
        }
        return nil
    }
}
