/// One OS thread that owns every tracee of an operation. ptrace requests
/// are only accepted from the thread that attached, so dump and restore
/// run their whole tracing part inside `run`, on this thread.
public enum TracerThread {
    /// Runs `body` on a fresh dedicated thread and waits for its result.
    public static func run<T>(_ body: @escaping () throws -> T) throws -> T {
        try DedicatedThread.run(named: "crtool-tracer", body)
    }
}
