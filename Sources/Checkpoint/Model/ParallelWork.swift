import Dispatch
import Ptrace

/// Items handed out one at a time to `workers` threads, each taking the
/// next as soon as it is done with one, so that a slow item holds up one
/// thread and not the others. The first error stops the handing out and
/// is thrown once every thread has stopped.
enum ParallelWork {
    /// Items 0..<count in order. `worker` makes each thread's own
    /// function (with its own buffer, say), called with item numbers.
    static func run(count: Int, workers: Int, worker: () -> (Int) throws -> Void) throws {
        var next = 0
        try run(workers: min(max(1, workers), max(1, count)), next: { _ in
            guard next < count else { return nil }
            defer { next += 1 }
            return next
        }, worker: { _ in worker() })
    }

    /// `body(i)` for items 0..<count on `workers` threads, the results in
    /// item order.
    static func map<T>(count: Int, workers: Int, _ body: @escaping (Int) throws -> T) throws -> [T] {
        let lock = Lock()
        var results = [T?](repeating: nil, count: count)
        try run(count: count, workers: workers) {
            { i in
                let r = try body(i)
                lock.withLock { results[i] = r }
            }
        }
        return results.map { $0! }
    }

    /// `next(thread)` chooses thread `thread`'s next item (nil: it is
    /// done); it is called under a lock, one thread at a time.
    static func run(workers: Int, next: (Int) -> Int?, worker: (Int) -> (Int) throws -> Void) throws {
        let lock = Lock()
        var failure: Error?
        DispatchQueue.concurrentPerform(iterations: max(1, workers)) { thread in
            let perform = worker(thread)
            while true {
                let index: Int? = lock.withLock {
                    guard failure == nil else { return nil }
                    return next(thread)
                }
                guard let i = index else { return }
                do {
                    try perform(i)
                } catch {
                    lock.withLock { if failure == nil { failure = error } }
                    return
                }
            }
        }
        if let failure { throw failure }
    }
}
