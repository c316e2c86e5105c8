/// The interest list of one epoll instance. Watches are keyed by the
/// descriptor numbers of the process that added them, so the restore adds
/// them again from inside that process once every other descriptor is back.
/// Events ready at dump time need no saving: level-triggered readiness is
/// seen again as soon as the watches exist.
public struct EpollState: Codable, Equatable, Sendable {
    public struct Watch: Codable, Equatable, Sendable {
        /// The watched descriptor, in the process's own table.
        public var fd: Int32
        /// EPOLLIN, EPOLLET, … as the kernel keeps them.
        public var events: UInt32
        /// The user data epoll_wait hands back for this watch.
        public var data: UInt64
        /// true when, in this process, `fd` is closed or another file: the
        /// watch was added by another process holding the same instance
        /// (a child that closed what it inherited), and is added again
        /// there. Absent means false.
        public var elsewhere: Bool?

        public init(fd: Int32, events: UInt32, data: UInt64, elsewhere: Bool? = nil) {
            self.fd = fd
            self.events = events
            self.data = data
            self.elsewhere = elsewhere
        }

        var addedHere: Bool { elsewhere != true }
    }

    public var watches: [Watch]

    public init(watches: [Watch]) {
        self.watches = watches
    }
}
