import CSupport
import Glibc

/// Runs a helper program to its end (nft, for the network lock): text on
/// its stdin, its stderr kept for the error message, stdout discarded.
public enum CommandOutput {
    public struct Result: Sendable {
        public var status: Int32
        public var errorText: String
    }

    public static func run(_ executable: String, _ arguments: [String], input: String = "") throws -> Result {
        var toChild: [Int32] = [0, 0], fromChild: [Int32] = [0, 0]
        guard pipe(&toChild) == 0 else { throw SystemError("pipe for \(executable)") }
        guard pipe(&fromChild) == 0 else {
            close(toChild[0]); close(toChild[1])
            throw SystemError("pipe for \(executable)")
        }
        for fd in toChild + fromChild { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], 2)
        cr_spawn_actions_close_from(&actions, 3)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        close(toChild[0])
        close(fromChild[1])
        guard rc == 0 else {
            close(toChild[1]); close(fromChild[0])
            throw SystemError("starting \(executable)", errno: rc)
        }
        // A program that stops reading says why on stderr, kept below.
        writeHoldingBackSIGPIPE(toChild[1], Array(input.utf8))
        close(toChild[1])
        var errorBytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fromChild[0], &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            errorBytes += buffer[0..<n]
        }
        close(fromChild[0])
        let ending = try ChildEnding.waiting(for: pid, "waiting for \(executable)")
        return Result(status: ending.shellStatus, errorText: String(decoding: errorBytes, as: UTF8.self))
    }

    /// Writes to the program's stdin with SIGPIPE held back on this thread
    /// and taken away after: the program may exit before it has read all
    /// (nft stops at a bad line), and the signal's default action would
    /// kill crtool in the middle of a dump, with the tree still frozen.
    /// The write then just fails, and the status tells what happened.
    private static func writeHoldingBackSIGPIPE(_ fd: Int32, _ bytes: [UInt8]) {
        var pipeSignal = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &pipeSignal, &previous)
        try? PipeOps.writeAll(fd, bytes)
        // A SIGPIPE already held back by the caller is the caller's.
        guard sigismember(&previous, SIGPIPE) == 0 else { return }
        var now = timespec(tv_sec: 0, tv_nsec: 0)
        while sigtimedwait(&pipeSignal, nil, &now) == SIGPIPE {}
        pthread_sigmask(SIG_SETMASK, &previous, nil)
    }
}
