import CSupport
import Glibc

/// Runs a line of shell code with /bin/sh -c and waits for it, as CRIU
/// runs its action scripts: with crtool's stdout and stderr, so what the
/// script says reaches the user, stdin from /dev/null, so it cannot take
/// a terminal's input from a job being restored, nothing else of crtool's
/// open (an image, a tracee's memory), and signals as a fresh program has
/// them.
public enum ShellScript {
    /// `environment`: variables set for the script on top of crtool's own.
    public static func run(_ code: String, environment: [String: String]) throws -> ChildEnding {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if rc == 0 { rc = cr_spawn_actions_close_from(&actions, 3) }
        guard rc == 0 else { throw SystemError("posix_spawn file actions for /bin/sh", errno: rc) }
        var variables: [String] = []
        var index = 0
        while let entry = environ[index] {
            let text = String(cString: entry)
            let name = text.split(separator: "=", maxSplits: 1).first.map(String.init) ?? text
            if environment[name] == nil { variables.append(text) }
            index += 1
        }
        variables += environment.keys.sorted().map { "\($0)=\(environment[$0]!)" }
        let words: [String] = ["/bin/sh", "-c", code]
        let argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = variables.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        rc = CleanSpawn.withSignalsReset { posix_spawn(&pid, "/bin/sh", &actions, &$0, argv, envp) }
        guard rc == 0 else { throw SystemError("starting /bin/sh for an action script", errno: rc) }
        return try ChildEnding.waiting(for: pid, "waiting for the action script's shell")
    }
}
