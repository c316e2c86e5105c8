import Foundation
import Glibc
import Ptrace

/// Names of network devices the restore makes in crtool's namespace,
/// which a device of the dumped tree may still hold for a moment.
enum DeviceNames {
    /// Whether no device of crtool's namespace is called `name` by
    /// `deadline`: one that goes with a killed tree or namespace is
    /// waited for.
    static func waitUntilFree(_ name: String, until deadline: Date) -> Bool {
        while NetworkInterface.index(ofName: name) != 0 {
            guard Date() < deadline else { return false }
            usleep(20_000)
        }
        return true
    }
}
