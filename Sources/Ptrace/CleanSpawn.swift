import CSupport
import Glibc

/// Starts a program with posix_spawn, not Foundation.Process (which reaps
/// its children on its own, racing with a caller that must reap a dumped
/// process itself so its PID is free for the restore), and with the clean
/// slate a checkpoint copes with: default signal dispositions, an empty
/// signal mask, stdin from /dev/null or a given descriptor, stdout and
/// stderr appended to files (a restored process reopens them by path and
/// must not overwrite what was written before the dump), nothing else open.
public enum CleanSpawn {
    public static func spawn(_ executable: String, _ arguments: [String], stdin: Int32? = nil,
                             stdout: String, stderr: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let logFlags = O_WRONLY | O_CREAT | O_TRUNC | O_APPEND
        var rc: Int32
        if let fd = stdin {
            rc = posix_spawn_file_actions_adddup2(&actions, fd, 0)
        } else {
            rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        if rc == 0 { rc = posix_spawn_file_actions_addopen(&actions, 1, stdout, logFlags, 0o644) }
        if rc == 0 { rc = posix_spawn_file_actions_addopen(&actions, 2, stderr, logFlags, 0o644) }
        // Every descriptor above 2 closed in the child, also one another
        // thread opens without O_CLOEXEC while the child is made (closing
        // those listed beforehand left that one open).
        if rc == 0 { rc = cr_spawn_actions_close_from(&actions, 3) }
        guard rc == 0 else { throw SystemError("posix_spawn file actions for \(executable)", errno: rc) }

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        rc = withSignalsReset { posix_spawn(&pid, executable, &actions, &$0, argv, environ) }
        guard rc == 0 else { throw SystemError("starting \(executable)", errno: rc) }
        return pid
    }

    /// Spawn attributes that start the child with every signal's default
    /// action and none blocked, whatever crtool's thread holds.
    static func withSignalsReset<T>(_ body: (inout posix_spawnattr_t) throws -> T) rethrows -> T {
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
        return try body(&attributes)
    }
}
