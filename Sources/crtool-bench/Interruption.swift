import Glibc

/// Ctrl-C or SIGTERM stops the bench at its next wait, so the fixture, the
/// restored process and the image are cleaned up by the same code as after
/// any failure. A handler rather than SIG_IGN, because exec resets handlers
/// but keeps ignored signals: the restored process is exec'd from this one
/// and must not start with SIGINT ignored.
enum Interruption {
    nonisolated(unsafe) static var requested: sig_atomic_t = 0

    static func install() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig) { _ in Interruption.requested = 1 }
        }
    }

    static func check() throws {
        if requested != 0 { throw BenchError("interrupted") }
    }
}
