import Foundation
import Glibc

/// A directory made a container's root, as runtimes make one: /usr of the
/// host bound read-only (bin, lib, lib64 and sbin link into it), a proc,
/// /dev a tmpfs with the host's /dev/null bound on a file of it, /tmp a
/// tmpfs, the fixture under /app, and the test's scratch directory bound
/// at its own path, where the program's stdout is; then pivot_root into
/// it, crtool's mounts detached.
struct ContainerRoot {
    let path: String
    let fixture: String

    /// `fixture`: a file of fixtures/, copied to /app.
    init(in scratch: ScratchDirectory, fixture: String) throws {
        path = try canonical(scratch.newDirectory("rootfs"))
        for directory in ["usr", "proc", "tmp", "dev", "app"] {
            guard mkdir(path + "/" + directory, 0o755) == 0 else { throw HarnessError("mkdir \(path)/\(directory): \(errnoText())") }
        }
        for link in ["bin", "lib", "lib64", "sbin"] {
            guard symlink("usr/" + link, path + "/" + link) == 0 else { throw HarnessError("symlink \(path)/\(link): \(errnoText())") }
        }
        self.fixture = "/app/" + (fixture as NSString).lastPathComponent
        try FileManager.default.copyItem(atPath: BuildProducts.packageRoot + "/fixtures/" + fixture, toPath: path + self.fixture)
    }

    /// Shell commands that, in a mount namespace of its own, make the
    /// mounts and enter the root.
    var entering: [String] {
        let harness = (path as NSString).deletingLastPathComponent
        return [
            "mount --bind \(path) \(path)",
            "mount --bind /usr \(path)/usr", "mount -o remount,bind,ro \(path)/usr",
            "mount -t proc proc \(path)/proc",
            "mount -t tmpfs -o size=8m crtool-tmp \(path)/tmp",
            "mount -t tmpfs -o mode=755 crtool-dev \(path)/dev", "touch \(path)/dev/null", "mount --bind /dev/null \(path)/dev/null",
            "mkdir -p \(path)\(harness)", "mount --bind \(harness) \(path)\(harness)",
            "cd \(path)", "/usr/sbin/pivot_root . .", "umount -l .", "cd /",
        ]
    }
}
