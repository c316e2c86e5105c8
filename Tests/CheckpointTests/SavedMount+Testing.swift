@testable import Checkpoint

extension SavedMount {
    /// A bind mount of `source`, a path of crtool's namespace or, with
    /// `inNamespace`, of the namespace's own.
    static func testingBind(_ mountPoint: String, parent: Int?, from source: String, inNamespace: Bool = false) -> SavedMount {
        var m = SavedMount(mountPoint: mountPoint, parent: parent, origin: .bind, fsType: "ext4", source: "/dev/vda", root: source,
                           flags: [], propagation: [])
        m.bindSource = source
        m.fromNamespace = inNamespace ? true : nil
        return m
    }
}
