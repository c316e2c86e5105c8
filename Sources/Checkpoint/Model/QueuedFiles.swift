/// The files one queued message of a unix socket carries (SCM_RIGHTS),
/// in the order the receiver gets them.
public struct QueuedFiles: Codable, Equatable, Sendable {
    /// Index of the message in `UnixSocketEnd.queue` (for a stream, the
    /// piece of the queue that ends with the message that carries them).
    public var message: Int
    public var files: [InFlightFile]

    public init(message: Int, files: [InFlightFile]) {
        self.message = message
        self.files = files
    }
}

/// One file in flight: either the same open file description as a
/// descriptor of a process in the image (`heldBy`), or a description only
/// the queue holds, saved like any descriptor (`file`; its `fd` is
/// meaningless).
public struct InFlightFile: Codable, Equatable, Sendable {
    public struct Holder: Codable, Equatable, Sendable {
        public var pid: Int32
        public var fd: Int32

        public init(pid: Int32, fd: Int32) {
            self.pid = pid
            self.fd = fd
        }
    }

    public var heldBy: Holder?
    public var file: FileDescriptorImage?

    public init(heldBy: Holder? = nil, file: FileDescriptorImage? = nil) {
        self.heldBy = heldBy
        self.file = file
    }
}
