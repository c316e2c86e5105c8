import Foundation
import Ptrace

/// The small programs installed beside crtool that it starts itself: the
/// stub a restore builds each process in, the keeper of a dump's files
/// shared outside the tree. An environment variable names another place
/// (a test, a packaging that splits them).
enum CompanionExecutable {
    static func path(_ name: String, environment variable: String) -> String {
        if let path = ProcessInfo.processInfo.environment[variable] { return path }
        let exe = (try? ProcFile.link("/proc/self/exe")) ?? "crtool"
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent(name).path
    }
}
