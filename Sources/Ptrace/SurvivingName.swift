import Foundation
import Glibc

/// Another name of a file a process holds open under a name deleted since
/// while the file itself still has links (`ln a b; rm a`): the kernel
/// shows the old name with " (deleted)", though the file is there under
/// the other. Found, the file can be reopened by that name like any
/// other; not found, a copy of its bytes would be a different file.
public enum SurvivingName {
    /// Looks where the kernel knows the file by (its handle, opened again,
    /// names a cached link other than the deleted one) and then in the
    /// deleted name's directory. A name counts only if it leads to
    /// `device` and `inode` now.
    public static func find(deletedName: String, openAs link: String, device: UInt64, inode: UInt64, pid: Int32) -> String? {
        let number = DeviceNumber(device)
        if let handle = try? FileHandles.handle(of: link, pid: pid),
           let name = try? FileHandles.path(major: UInt32(number.major), minor: UInt32(number.minor), inode: inode,
                                            handleType: handle.type, handle: handle.bytes, pid: pid),
           leads(name, to: device, inode) {
            return name
        }
        let directory = (deletedName as NSString).deletingLastPathComponent
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return entries.lazy.map { (directory as NSString).appendingPathComponent($0) }
            .first { leads($0, to: device, inode) }
    }

    private static func leads(_ name: String, to device: UInt64, _ inode: UInt64) -> Bool {
        var st = stat()
        return lstat(name, &st) == 0
            && st.st_mode & S_IFMT == S_IFREG && UInt64(st.st_dev) == device && UInt64(st.st_ino) == inode
    }
}
