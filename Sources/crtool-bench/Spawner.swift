import Glibc
import Ptrace

/// Starts a fixture the way a checkpoint copes with (see CleanSpawn).
enum Spawner {
    static func spawn(_ executable: String, _ arguments: [String], stdout: String, stderr: String) throws -> pid_t {
        do {
            return try CleanSpawn.spawn(executable, arguments, stdout: stdout, stderr: stderr)
        } catch let e as SystemError {
            throw BenchError.system(e.operation, e.errno)
        }
    }
}
