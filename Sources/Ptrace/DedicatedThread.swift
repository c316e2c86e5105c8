import Foundation

/// Work that must stay on one OS thread from start to end: Swift
/// concurrency and Dispatch may move work between threads, and some state
/// the kernel keeps per thread (a ptrace attachment, a namespace entered
/// with setns) holds only for the thread that made it.
public enum DedicatedThread {
    /// Runs `body` on a fresh thread that ends with it, and waits for its
    /// result.
    public static func run<T>(named name: String, _ body: @escaping () throws -> T) throws -> T {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            box.result = Result { try body() }
            done.signal()
        }
        thread.name = name
        thread.stackSize = 8 << 20
        thread.start()
        done.wait()
        return try box.result!.get()
    }
}

private final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, Error>?
}
