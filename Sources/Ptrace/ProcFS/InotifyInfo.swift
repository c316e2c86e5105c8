/// The watches of an inotify descriptor, from its fdinfo: one
/// "inotify wd:" line per watch, with the file handle of the watched inode
/// (FdInfo keeps only the first of them).
public struct InotifyWatch: Equatable, Sendable {
    public var wd: Int32
    public var inode: UInt64
    /// The device in the kernel's encoding (major << 20 | minor).
    public var device: UInt32
    public var mask: UInt32
    public var handleType: Int32
    public var handle: [UInt8]

    public var deviceMajor: UInt32 { FileHandles.split(kernelDevice: device).major }
    public var deviceMinor: UInt32 { FileHandles.split(kernelDevice: device).minor }
}

public enum InotifyInfo {
    public static func read(pid: Int32, fd: Int32) throws -> [InotifyWatch] {
        let file = "/proc/\(pid)/fdinfo/\(fd)"
        return try parse(ProcFile.text(file, pid: pid), file: file)
    }

    /// Lines look like `inotify wd:2 ino:13 sdev:fe00000 mask:2
    /// ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:1300000000000000`,
    /// every number in hexadecimal.
    public static func parse(_ text: String, file: String = "fdinfo") throws -> [InotifyWatch] {
        var watches: [InotifyWatch] = []
        for line in text.split(separator: "\n") where line.hasPrefix("inotify ") {
            let fields = FdInfoFields.pairs(line)
            guard let wd = fields["wd"].flatMap({ Int32($0, radix: 16) }),
                  let inode = fields["ino"].flatMap({ UInt64($0, radix: 16) }),
                  let device = fields["sdev"].flatMap({ UInt32($0, radix: 16) }),
                  let mask = fields["mask"].flatMap({ UInt32($0, radix: 16) }) else {
                throw ProcParseError(file: file, line: String(line), reason: "bad inotify watch")
            }
            let type = fields["fhandle-type"].flatMap { Int32($0, radix: 16) } ?? 0
            let handle = fields["f_handle"].flatMap(hexBytes) ?? []
            watches.append(InotifyWatch(wd: wd, inode: inode, device: device, mask: mask, handleType: type, handle: handle))
        }
        return watches.sorted { $0.wd < $1.wd }
    }

    static func hexBytes(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        for i in stride(from: 0, to: digits.count, by: 2) {
            guard let b = UInt8(String(decoding: digits[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
            out.append(b)
        }
        return out
    }
}
