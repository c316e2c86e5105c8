import Glibc

/// A failure of the benchmark itself (a fixture that never got ready, a
/// restore that did not come back), as opposed to a target not met, which
/// is a result and is only reported.
struct BenchError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }

    /// For a failed libc call: the message and errno's text.
    static func system(_ what: String, _ code: Int32 = errno) -> BenchError {
        BenchError("\(what): \(String(cString: strerror(code)))")
    }
}
