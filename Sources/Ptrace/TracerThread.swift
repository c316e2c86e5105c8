import Foundation

/// One OS thread that owns every tracee of an operation. ptrace requests
/// are only accepted from the thread that attached, and Swift concurrency
/// or Dispatch may move work between threads, so dump and restore run
/// their whole tracing part inside `run`, on this thread.
public enum TracerThread {
    /// Runs `body` on a fresh dedicated thread and waits for its result.
    public static func run<T>(_ body: @escaping () throws -> T) throws -> T {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            box.result = Result { try body() }
            done.signal()
        }
        thread.name = "crtool-tracer"
        thread.stackSize = 8 << 20
        thread.start()
        done.wait()
        return try box.result!.get()
    }
}

private final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, Error>?
}
