import Dispatch

/// Runs a piece of work on a queue of its own while the test goes on: a
/// client that must already be waiting when the test restores its peer.
/// The work touches nothing the test uses until `wait` has returned,
/// which is what makes handing it across unchecked safe.
final class BackgroundWork<Value>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<Value, Error>?

    init(_ label: String, _ work: @escaping () throws -> Value) {
        let job = UncheckedWork(run: work)
        DispatchQueue(label: label).async {
            self.result = Result { try job.run() }
            self.done.signal()
        }
    }

    /// The work's result, or nil when it is not done within `timeout` seconds.
    func wait(timeout: Double) -> Result<Value, Error>? {
        done.wait(timeout: .now() + timeout) == .success ? result : nil
    }
}

private struct UncheckedWork<Value>: @unchecked Sendable {
    let run: () throws -> Value
}
