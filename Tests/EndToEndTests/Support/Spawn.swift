import Glibc

/// Where a spawned process reads from.
enum StandardInput {
    case devNull
    /// Duplicated onto fd 0 in the child; the caller keeps its own copy.
    case descriptor(Int32)
}

/// Starts a process with posix_spawn directly. Foundation.Process is not
/// used because it reaps children on its own, which would race with the
/// tests' waitpid and, worse, with crtool's need for the PID to be free.
///
/// The child gets a clean slate a checkpoint can cope with: default signal
/// dispositions, an empty signal mask, no descriptors beyond 0-2, stdout and
/// stderr appended to files (O_APPEND, so a restored process and anything
/// written after a --leave-running dump never overwrite each other).
func spawnProcess(
    _ executable: String,
    _ arguments: [String],
    stdin: StandardInput = .devNull,
    stdout stdoutPath: String,
    stderr stderrPath: String
) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    let logFlags = O_WRONLY | O_CREAT | O_TRUNC | O_APPEND
    var rc: Int32
    switch stdin {
    case .devNull:
        rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    case .descriptor(let fd):
        rc = posix_spawn_file_actions_adddup2(&actions, fd, 0)
    }
    if rc == 0 { rc = posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, logFlags, 0o644) }
    if rc == 0 { rc = posix_spawn_file_actions_addopen(&actions, 2, stderrPath, logFlags, 0o644) }
    if rc == 0 { rc = LibC.spawnAddCloseFrom(&actions, 3) }
    guard rc == 0 else { throw HarnessError("posix_spawn file actions: \(errnoText(rc))") }

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
    guard rc == 0 else {
        throw HarnessError("cannot start \(executable): \(errnoText(rc))")
    }
    return pid
}
