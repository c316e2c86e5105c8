import Glibc

/// Private anonymous memory of this process, unmapped when the value goes.
/// Pages nobody has touched yet: what a restore fills, so what a probe of
/// the cost of filling pages needs.
public final class AnonymousMapping: @unchecked Sendable {
    public let address: UInt64
    public let size: Int

    public init(size: Int) throws {
        guard let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), base != MAP_FAILED else {
            throw SystemError("mmap of \(size) bytes of anonymous memory", pid: getpid())
        }
        address = UInt64(UInt(bitPattern: base))
        self.size = size
    }

    deinit {
        munmap(UnsafeMutableRawPointer(bitPattern: UInt(address)), size)
    }
}
