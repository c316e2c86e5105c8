import CSupport
import Glibc

/// Reads and writes another process's memory. process_vm_readv/writev is
/// the fast path (no ptrace stop needed, callable from any thread); pages
/// it cannot touch (PROT_NONE, read-only for writes) go through
/// /proc/PID/mem, which the kernel lets a tracer force.
public final class RemoteMemory: @unchecked Sendable {
    public let pid: Int32
    private var memFD: Int32 = -1
    private let lock = Lock()

    public init(pid: Int32) {
        self.pid = pid
    }

    deinit {
        if memFD >= 0 { close(memFD) }
    }

    private func procMem() throws -> Int32 {
        try lock.withLock {
            if memFD < 0 {
                memFD = open("/proc/\(pid)/mem", O_RDWR | O_CLOEXEC)
                if memFD < 0 { throw SystemError("open /proc/\(pid)/mem", pid: pid) }
            }
            return memFD
        }
    }

    /// Reads `count` bytes at `address` into a new array, never cleared
    /// first: a dump that keeps what it reads allocates megabytes a chunk.
    public func read(at address: UInt64, count: Int) throws -> [UInt8] {
        var failure: Error?
        let out = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            do {
                try read(into: UnsafeMutableRawBufferPointer(buffer), at: address, count: count)
                initialized = count
            } catch {
                failure = error
                initialized = 0
            }
        }
        if let failure { throw failure }
        return out
    }

    /// Reads `count` bytes at `address` into `buffer[offset...]`.
    public func read(into buffer: inout [UInt8], offset: Int, at address: UInt64, count: Int) throws {
        precondition(offset + count <= buffer.count)
        try buffer.withUnsafeMutableBytes { b in
            try read(into: UnsafeMutableRawBufferPointer(rebasing: b[offset..<(offset + count)]), at: address, count: count)
        }
    }

    private func read(into b: UnsafeMutableRawBufferPointer, at address: UInt64, count: Int) throws {
        var done = 0
        while done < count {
            var local = iovec(iov_base: b.baseAddress! + done, iov_len: count - done)
            var remote = iovec(iov_base: UnsafeMutableRawPointer(bitPattern: UInt(address) + UInt(done)), iov_len: count - done)
            let n = cr_process_vm_readv(pid, &local, 1, &remote, 1)
            let err = errno
            if n > 0 { done += n; continue }
            if n < 0 && err != EFAULT && err != EPERM && err != EACCES {
                throw SystemError("process_vm_readv of \(count - done) bytes at 0x\(String(address + UInt64(done), radix: 16))", pid: pid, errno: err)
            }
            // Unreadable by process_vm_readv (PROT_NONE): force through /proc/PID/mem.
            let fd = try procMem()
            let m = pread(fd, b.baseAddress! + done, count - done, off_t(Int64(bitPattern: address + UInt64(done))))
            if m <= 0 {
                throw SystemError("read of /proc/\(pid)/mem at 0x\(String(address + UInt64(done), radix: 16))", pid: pid, errno: m == 0 ? EIO : errno)
            }
            done += m
        }
    }

    /// Writes `bytes` at `address`.
    public func write(_ bytes: [UInt8], at address: UInt64) throws {
        try write(bytes, range: 0..<bytes.count, at: address)
    }

    /// Writes several pieces of `bytes` at their addresses with as few
    /// process_vm_writev calls as possible (up to 1024 iovecs each): a chunk
    /// of scattered pages is one call, not one per page. Anything the batch
    /// cannot write goes piece by piece through the fallback path.
    public func write(_ bytes: [UInt8], pieces: [SourcePiece]) throws {
        try write(.array(bytes), pieces: pieces)
    }

    /// The same from any source: pieces' ranges are offsets into `source`.
    public func write(_ source: SourceBytes, pieces: [SourcePiece]) throws {
        precondition(pieces.allSatisfy { $0.range.lowerBound >= 0 && $0.range.upperBound <= source.count })
        var start = 0
        while start < pieces.count {
            let batch = pieces[start..<min(start + 1024, pieces.count)]
            let total = batch.reduce(0) { $0 + $1.range.count }
            let written: Int = source.withBaseAddress { b in
                var local = batch.map { iovec(iov_base: UnsafeMutableRawPointer(mutating: b + $0.range.lowerBound), iov_len: $0.range.count) }
                var remote = batch.map { iovec(iov_base: UnsafeMutableRawPointer(bitPattern: UInt($0.address)), iov_len: $0.range.count) }
                return cr_process_vm_writev(pid, &local, UInt(local.count), &remote, UInt(remote.count))
            }
            if written != total {
                // Partial or refused: redo this batch piece by piece, which
                // also handles pages only /proc/PID/mem may write.
                for piece in batch { try write(source, range: piece.range, at: piece.address) }
            }
            start += batch.count
        }
    }

    /// Writes `bytes[range]` at `address`.
    public func write(_ bytes: [UInt8], range: Range<Int>, at address: UInt64) throws {
        try write(.array(bytes), range: range, at: address)
    }

    private func write(_ source: SourceBytes, range: Range<Int>, at address: UInt64) throws {
        var done = 0
        let count = range.count
        try source.withBaseAddress { b in
            while done < count {
                let src = UnsafeMutableRawPointer(mutating: b + range.lowerBound + done)
                var local = iovec(iov_base: src, iov_len: count - done)
                var remote = iovec(iov_base: UnsafeMutableRawPointer(bitPattern: UInt(address) + UInt(done)), iov_len: count - done)
                let n = cr_process_vm_writev(pid, &local, 1, &remote, 1)
                let err = errno
                if n > 0 { done += n; continue }
                if n < 0 && err != EFAULT && err != EPERM && err != EACCES {
                    throw SystemError("process_vm_writev of \(count - done) bytes at 0x\(String(address + UInt64(done), radix: 16))", pid: pid, errno: err)
                }
                let fd = try procMem()
                let m = pwrite(fd, src, count - done, off_t(Int64(bitPattern: address + UInt64(done))))
                if m <= 0 {
                    throw SystemError("write of /proc/\(pid)/mem at 0x\(String(address + UInt64(done), radix: 16))", pid: pid, errno: m == 0 ? EIO : errno)
                }
                done += m
            }
        }
    }
}

/// Content checks on page buffers that must run at memory speed.
public enum PageContent {
    public static let pageSize = 4096

    /// Whether page `index` of `buffer` holds only zero bytes.
    public static func isZero(_ buffer: [UInt8], page index: Int) -> Bool {
        buffer.withUnsafeBytes { b in
            let words = (b.baseAddress! + index * pageSize).assumingMemoryBound(to: UInt64.self)
            var acc: UInt64 = 0
            var i = 0
            while i < pageSize / 8 {
                acc |= words[i] | words[i + 1] | words[i + 2] | words[i + 3]
                if acc != 0 { return false }
                i += 4
            }
            return true
        }
    }

    /// Copies `count` bytes from `source[from...]` into `dest[to...]`.
    public static func copy(_ source: [UInt8], from: Int, into dest: inout [UInt8], to: Int, count: Int) {
        source.withUnsafeBytes { s in
            dest.withUnsafeMutableBytes { d in
                _ = memcpy(d.baseAddress! + to, s.baseAddress! + from, count)
            }
        }
    }
}

/// A pthread mutex, for the few places where a Swift lock must guard
/// state shared with worker threads.
public final class Lock: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    public init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }
}
