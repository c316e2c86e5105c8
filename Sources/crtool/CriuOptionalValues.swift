import Checkpoint

/// CRIU options whose value may be left out (`--manage-cgroups` alone,
/// as scripts and runtimes pass it): one followed by another option, or
/// by nothing, is given its default value, since crtool's parser wants
/// one.
enum CriuOptionalValues {
    static let defaults: [String: String] = ["--manage-cgroups": CgroupManagement.soft.rawValue]

    static func rewrite(_ arguments: [String]) -> [String] {
        let end = arguments.firstIndex(of: "--") ?? arguments.endIndex
        var out: [String] = []
        for (i, argument) in arguments.enumerated() {
            guard i < end, let value = defaults[argument] else {
                out.append(argument)
                continue
            }
            let next = i + 1 < end ? arguments[i + 1] : nil
            out.append(next.map { $0.hasPrefix("-") } ?? true ? argument + "=" + value : argument)
        }
        return out
    }
}
