import Ptrace

/// The restore writes what cgroups.json says into files of this host's
/// cgroups: each cgroup must be a plain path below a hierarchy's root,
/// each setting one `CgroupSettingNames` lists for its hierarchy, each
/// value one line, so that a hostile image writes nothing else.
enum CgroupImageCheck {
    static func check(_ cgroups: [CgroupImage]) throws {
        let file = CgroupImage.listFile
        for (i, c) in cgroups.enumerated() {
            guard c.controllers.isEmpty || c.controllers.split(separator: ",", omittingEmptySubsequences: false).allSatisfy(isControllerName) else {
                throw ImageError(file: file, field: "[\(i)].controllers", reason: "\(c.controllers) is not a list of cgroup controllers")
            }
            guard c.membership.hasPlainPath, c.path != "/" else {
                throw ImageError(file: file, field: "[\(i)].path", reason: "\(c.path) is not the path of a cgroup below its hierarchy's root")
            }
            guard !cgroups[..<i].contains(where: { $0.controllers == c.controllers && $0.path == c.path }) else {
                throw ImageError(file: file, field: "[\(i)]", reason: "\(c.membership.hierarchyName) cgroup \(c.path) is listed twice")
            }
            for (j, s) in c.settings.enumerated() {
                guard CgroupSettingNames.isKnown(s.name, controllers: c.controllers) else {
                    throw ImageError(file: file, field: "[\(i)].settings[\(j)].name",
                                     reason: "\(s.name) is not a setting crtool restores in the \(c.membership.hierarchyName) hierarchy")
                }
                guard CgroupSettingNames.isPlainValue(s.value), !s.value.isEmpty else {
                    throw ImageError(file: file, field: "[\(i)].settings[\(j)].value", reason: "not one line of printable text")
                }
            }
        }
    }

    /// "memory", "cpu", "name=systemd": what a v1 hierarchy's controllers
    /// are called.
    private static func isControllerName(_ name: Substring) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { c in
            (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c == 0x5f || c == 0x3d || c == 0x2e || c == 0x2d
        }
    }
}
