/// The watches of one inotify instance. The program holds watch
/// descriptor numbers, so each watch must come back with its own number:
/// see InotifyFiles for how the kernel is led to hand out the same ones.
/// Events queued but not yet read at dump time are not kept.
public struct InotifyState: Codable, Equatable, Sendable {
    public struct Watch: Codable, Equatable, Sendable {
        public var wd: Int32
        /// A path to the watched inode, found from its file handle at dump time.
        public var path: String
        /// IN_MODIFY, IN_ONESHOT, … as the program asked.
        public var mask: UInt32
        /// The watched inode, checked again when the path is watched on restore.
        public var inode: UInt64

        public init(wd: Int32, path: String, mask: UInt32, inode: UInt64) {
            self.wd = wd
            self.path = path
            self.mask = mask
            self.inode = inode
        }
    }

    public var watches: [Watch]

    public init(watches: [Watch]) {
        self.watches = watches
    }
}
