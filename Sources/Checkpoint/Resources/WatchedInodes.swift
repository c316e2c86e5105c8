import Ptrace

/// The inodes inotify watches and fanotify marks are on: fdinfo shows
/// each by its device, number and file handle, and the dump saves the
/// path that handle leads to, which the restore watches or marks again.
enum WatchedInodes {
    /// The path of the watched inode, or a refusal of the dump naming
    /// `holder` ("an inotify instance whose watch 3") when crtool finds
    /// none or the file was deleted since.
    static func path(inode: UInt64, device: UInt32, handleType: Int32, handle: [UInt8], probe p: FileProbe, holder: String) throws -> String {
        let (major, minor) = FileHandles.split(kernelDevice: device)
        let path: String
        do {
            path = try FileHandles.path(major: major, minor: minor, inode: inode, handleType: handleType, handle: handle, pid: p.pid)
        } catch {
            throw FileKinds.unsupported(p, what: "\(holder) (inode \(inode) on device \(major):\(minor)) has no path crtool can find (\(error))")
        }
        if path.hasSuffix(" (deleted)") {
            throw FileKinds.unsupported(p, what: "\(holder) is on \(path), a file deleted since")
        }
        return path
    }
}
