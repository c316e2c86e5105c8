import Foundation
import Glibc
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

    /// `crtool check`'s line for the program at `path`, described as
    /// `name`; `otherwise` says what fails without it.
    static func feature(_ name: String, at path: String, required: Bool, otherwise: String) -> KernelFeature {
        let found = access(path, X_OK) == 0
        return KernelFeature(name: name, required: required, available: found,
                             detail: found ? path : "\(path) is missing or not executable: \(otherwise)")
    }
}
