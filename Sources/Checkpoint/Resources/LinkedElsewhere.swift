import Ptrace

/// A file deleted under the name a process opened or mapped it by but
/// linked under another (`ln a b; rm a`) is the same file there, for a
/// descriptor and a shared mapping alike: found again by that name, the
/// process goes on writing where everyone else reads, where a copy of its
/// bytes would take every later write away from them. The name is looked
/// for by `SurvivingName`.
enum LinkedElsewhere {
    /// Whether a file on `device` can have names at all: its file system
    /// is mounted where the process sees. A file of an internal mount
    /// (secret memory, an anonymous inode) counts a link but never had a
    /// name to look for.
    static func applies(device: UInt64, pid: Int32) -> Bool {
        let number = DeviceNumber(device)
        let mounts = (try? MountTable.read(pid: pid)) ?? []
        return mounts.contains { UInt64($0.major) == number.major && UInt64($0.minor) == number.minor }
    }

    /// What a refusal says of such a file whose other name was not found,
    /// with the command that gives it one.
    static func notFound(_ link: String, deletedName: String, device: UInt64, inode: UInt64, links: UInt64) -> String {
        "a file deleted under this name that lives on under \(links == 1 ? "another name" : "\(links) other names") crtool cannot find "
            + "(inode \(inode) on device \(DeviceNumber(device))); a copy of its bytes would not be the file others see. "
            + "Give it a name in its directory (ln -L \(link) \(deletedName)) and dump again"
    }
}
