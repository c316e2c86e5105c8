import Foundation

/// Reuses expensive codec contexts across calls.
///
/// A zstd context costs about a megabyte to set up and must not be used by
/// two threads at once. A pool, rather than thread-local storage, keeps the
/// number alive bounded by the peak concurrency and needs no destructor
/// hooks on thread exit.
final class ContextPool: @unchecked Sendable {
    private let lock = NSLock()
    private var idle: [OpaquePointer] = []
    private let maxIdle: Int
    private let make: () -> OpaquePointer?
    private let free: (OpaquePointer) -> Void

    init(maxIdle: Int = 16, make: @escaping () -> OpaquePointer?, free: @escaping (OpaquePointer) -> Void) {
        self.maxIdle = maxIdle
        self.make = make
        self.free = free
    }

    /// Runs `body` with a context no other thread holds meanwhile.
    func withContext<T>(_ body: (OpaquePointer) throws -> T) throws -> T? {
        let context: OpaquePointer
        lock.lock()
        if let reused = idle.popLast() {
            lock.unlock()
            context = reused
        } else {
            lock.unlock()
            guard let fresh = make() else { return nil }
            context = fresh
        }
        defer { giveBack(context) }
        return try body(context)
    }

    private func giveBack(_ context: OpaquePointer) {
        lock.lock()
        if idle.count < maxIdle {
            idle.append(context)
            lock.unlock()
        } else {
            lock.unlock()
            free(context)
        }
    }
}
