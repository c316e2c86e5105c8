import Foundation
import Glibc

/// Starts a fixture with posix_spawn rather than Foundation.Process, which
/// reaps its children on its own: the bench must reap the fixture itself,
/// right after the dump, so that its PID is free for the restore.
///
/// The child gets what a checkpoint can cope with: stdin from /dev/null,
/// stdout and stderr appended to files (a restored process reopens them by
/// path and must not overwrite what was written before the dump), no other
/// descriptors, default signal dispositions and an empty signal mask.
enum Spawner {
    static func spawn(_ executable: String, _ arguments: [String], stdout: String, stderr: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let logFlags = O_WRONLY | O_CREAT | O_TRUNC | O_APPEND
        var rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if rc == 0 { rc = posix_spawn_file_actions_addopen(&actions, 1, stdout, logFlags, 0o644) }
        if rc == 0 { rc = posix_spawn_file_actions_addopen(&actions, 2, stderr, logFlags, 0o644) }
        for fd in openDescriptorsAbove2() where rc == 0 {
            rc = posix_spawn_file_actions_addclose(&actions, fd)
        }
        guard rc == 0 else { throw BenchError.system("posix_spawn file actions", rc) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var everySignal = sigset_t()
        sigfillset(&everySignal)
        var noSignal = sigset_t()
        sigemptyset(&noSignal)
        posix_spawnattr_setsigdefault(&attributes, &everySignal)
        posix_spawnattr_setsigmask(&attributes, &noSignal)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        rc = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard rc == 0 else { throw BenchError.system("cannot start \(executable)", rc) }
        return pid
    }

    /// The Glibc module has no posix_spawn_file_actions_addclosefrom_np, so
    /// every descriptor open now above 2 gets its own close action. glibc
    /// ignores a close action for a descriptor that is already closed (the
    /// directory listing's own, for one).
    private static func openDescriptorsAbove2() -> [Int32] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return names.compactMap { Int32($0) }.filter { $0 > 2 }.sorted()
    }
}
