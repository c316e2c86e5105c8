import Ptrace

/// A fanotify group of the notification class: the flags it was made
/// with and its marks (see Resources/FanotifyFiles.swift). Events queued
/// but not yet read at the dump are not kept.
public struct FanotifyState: Codable, Equatable, Sendable {
    public struct Mark: Codable, Equatable, Sendable {
        public enum Object: String, Codable, Sendable {
            case inode, mount, filesystem
        }

        public var object: Object
        /// inode: a path to the marked inode, found from its file handle;
        /// mount and filesystem: the mount point, as the process sees it.
        public var path: String
        /// The marked inode's number at the dump, for the messages.
        public var inode: UInt64?
        /// FAN_MARK_IGNORED_SURV_MODIFY, FAN_MARK_EVICTABLE, FAN_MARK_IGNORE.
        public var flags: UInt32
        public var mask: UInt64
        public var ignoredMask: UInt64

        public init(object: Object, path: String, inode: UInt64?, flags: UInt32, mask: UInt64, ignoredMask: UInt64) {
            self.object = object
            self.path = path
            self.inode = inode
            self.flags = flags
            self.mask = mask
            self.ignoredMask = ignoredMask
        }
    }

    /// fanotify_init's flags and event_f_flags.
    public var flags: UInt32
    public var eventFlags: UInt32
    public var marks: [Mark]

    public init(flags: UInt32, eventFlags: UInt32, marks: [Mark]) {
        self.flags = flags
        self.eventFlags = eventFlags
        self.marks = marks
    }
}

extension FanotifyState {
    /// Why a restore must not hand these to the kernel, or nil. A group of
    /// another class than notification decides other processes' accesses,
    /// which crtool does not take on; marks must name an absolute path.
    var invalidField: (field: String, reason: String)? {
        if flags & Fanotify.classMask != 0 { return ("flags", "0x\(String(flags, radix: 16)) is not a notification class group's") }
        for (i, m) in marks.enumerated() {
            guard m.path.hasPrefix("/") else { return ("marks[\(i)].path", "\"\(m.path)\" is not an absolute path") }
            guard m.mask != 0 || m.ignoredMask != 0 else { return ("marks[\(i)].mask", "a mark with neither a mask nor an ignored mask") }
        }
        return nil
    }
}
