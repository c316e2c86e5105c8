import ArgumentParser
import Checkpoint

extension CgroupManagement {
    /// --manage-cgroups MODE, as dump and restore both take it.
    static func option(_ text: String) throws -> CgroupManagement {
        guard let mode = CgroupManagement(rawValue: text) else {
            throw ValidationError("--manage-cgroups takes \(allCases.map(\.rawValue).joined(separator: ", ")), not \(text)")
        }
        return mode
    }
}
