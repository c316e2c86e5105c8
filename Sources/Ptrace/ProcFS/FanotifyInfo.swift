/// A fanotify group as its fdinfo shows it: the flags it was made with
/// and one line per mark, every number in hexadecimal:
///
///     fanotify flags:2 event-flags:8000
///     fanotify ino:fda531 sdev:fe00000 mflags:0 mask:48000020 ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:31a5fd00a69c9bc2
///     fanotify mnt_id:1b mflags:0 mask:8 ignored_mask:0
///     fanotify sdev:fe00000 mflags:0 mask:2 ignored_mask:0
public struct FanotifyGroup: Equatable, Sendable {
    /// fanotify_init's flags: class, FAN_REPORT_*, FAN_UNLIMITED_*, FAN_NONBLOCK, FAN_CLOEXEC.
    public var flags: UInt32
    /// fanotify_init's event_f_flags: how the files handed with events are opened.
    public var eventFlags: UInt32
    public var marks: [FanotifyMark]
}

public struct FanotifyMark: Equatable, Sendable {
    public enum Object: Equatable, Sendable {
        /// An inode: its number, device (major << 20 | minor) and file handle.
        case inode(UInt64, device: UInt32, handleType: Int32, handle: [UInt8])
        /// A mount, by its id in mountinfo.
        case mount(Int)
        /// A whole file system, by its device (major << 20 | minor).
        case filesystem(device: UInt32)
    }

    public var object: Object
    /// FAN_MARK_IGNORED_SURV_MODIFY, FAN_MARK_EVICTABLE, FAN_MARK_IGNORE as fanotify_mark takes them.
    public var flags: UInt32
    public var mask: UInt64
    public var ignoredMask: UInt64

    public init(object: Object, flags: UInt32, mask: UInt64, ignoredMask: UInt64) {
        self.object = object
        self.flags = flags
        self.mask = mask
        self.ignoredMask = ignoredMask
    }
}

public enum FanotifyInfo {
    public static func read(pid: Int32, fd: Int32) throws -> FanotifyGroup {
        let file = "/proc/\(pid)/fdinfo/\(fd)"
        return try parse(ProcFile.text(file, pid: pid), file: file)
    }

    public static func parse(_ text: String, file: String = "fdinfo") throws -> FanotifyGroup {
        var group: FanotifyGroup?
        var marks: [FanotifyMark] = []
        for line in text.split(separator: "\n") where line.hasPrefix("fanotify ") {
            let fields = FdInfoFields.pairs(line)
            func hex<T: FixedWidthInteger>(_ key: String, _: T.Type) throws -> T {
                guard let value = fields[key].flatMap({ T($0, radix: 16) }) else {
                    throw ProcParseError(file: file, line: String(line), reason: "no \(key) in a fanotify line")
                }
                return value
            }
            if fields["flags"] != nil, fields["event-flags"] != nil {
                group = FanotifyGroup(flags: try hex("flags", UInt32.self), eventFlags: try hex("event-flags", UInt32.self), marks: [])
                continue
            }
            let object: FanotifyMark.Object
            if fields["ino"] != nil {
                object = .inode(try hex("ino", UInt64.self), device: try hex("sdev", UInt32.self),
                                handleType: fields["fhandle-type"].flatMap { Int32($0, radix: 16) } ?? 0,
                                handle: fields["f_handle"].flatMap(InotifyInfo.hexBytes) ?? [])
            } else if fields["mnt_id"] != nil {
                object = .mount(try hex("mnt_id", Int.self))
            } else if fields["sdev"] != nil {
                object = .filesystem(device: try hex("sdev", UInt32.self))
            } else {
                throw ProcParseError(file: file, line: String(line), reason: "a fanotify mark on an object crtool does not know")
            }
            marks.append(FanotifyMark(object: object, flags: try hex("mflags", UInt32.self),
                                      mask: try hex("mask", UInt64.self), ignoredMask: try hex("ignored_mask", UInt64.self)))
        }
        guard var found = group else {
            throw ProcParseError(file: file, line: "", reason: "no \"fanotify flags:\" line")
        }
        found.marks = marks
        return found
    }
}
