import Codecs
import Foundation

/// Appends page chunks to a page file from any number of threads.
///
/// `append` compresses on the calling thread, so N dumping threads compress
/// in parallel; reserving a place in the file takes one lock, and the
/// write itself takes another: the kernel serializes buffered writes to
/// one file on its inode lock anyway, and threads waiting there spin and
/// steal the CPU the other workers need for reading and compressing. Chunks
/// land in the order their places were reserved. After the first failed
/// write the writer refuses further work and `finish` reports the failure,
/// so a dump cannot end with a silent hole in its pages.
public final class PageStreamWriter: @unchecked Sendable {
    public let path: String
    public let codec: Codec
    private let file: ImageFile
    private let name: String
    private let condition = NSCondition()
    private let writeLock = NSLock()
    private var summary = PageStreamSummary()
    private var writesInFlight = 0
    private var failure: Error?
    private var result: PageStreamSummary?
    private let onFinish: (@Sendable (PageStreamSummary) -> Void)?

    /// Creates (or truncates) the file at `path`, mode 0600.
    public convenience init(path: String, codec: Codec) throws {
        try self.init(path: path, codec: codec, onFinish: nil)
    }

    init(path: String, codec: Codec, onFinish: (@Sendable (PageStreamSummary) -> Void)?) throws {
        self.path = path
        self.codec = codec
        self.name = (path as NSString).lastPathComponent
        self.file = try ImageFile.create(path)
        self.onFinish = onFinish
    }

    public func append(_ chunk: PageChunk) throws {
        try append(EncodedPageChunk(chunk, codec: codec, file: name))
    }

    /// Appends a chunk already encoded elsewhere, e.g. received over a
    /// socket, without compressing it again.
    public func append(_ chunk: EncodedPageChunk) throws {
        let chunkCRC = chunk.crc32
        condition.lock()
        if let refusal = refusalLocked() {
            condition.unlock()
            throw refusal
        }
        let offset = summary.fileSize
        summary.add(chunk.header, encodedSize: chunk.size, crc32: chunkCRC)
        writesInFlight += 1
        condition.unlock()

        var writeError: Error?
        writeLock.lock()
        do {
            try file.write(chunk.headerBytes, at: offset)
            try file.write(chunk.stored, at: offset + UInt64(chunk.headerBytes.count))
        } catch {
            writeError = error
        }
        writeLock.unlock()

        condition.lock()
        writesInFlight -= 1
        if let writeError, failure == nil { failure = writeError }
        condition.broadcast()
        condition.unlock()
        if let writeError { throw writeError }
    }

    /// Waits for writes in flight, closes the file and returns its totals.
    /// Calling it again returns the same totals.
    public func finish() throws -> PageStreamSummary {
        condition.lock()
        defer { condition.unlock() }
        while writesInFlight > 0 { condition.wait() }
        if let result { return result }
        if let failure {
            try? file.close()
            throw failure
        }
        do {
            try file.close()
        } catch {
            failure = error
            throw error
        }
        result = summary
        onFinish?(summary)
        return summary
    }

    /// Closes the file after a failed dump; the caller removes it.
    public func abandon() {
        condition.lock()
        defer { condition.unlock() }
        while writesInFlight > 0 { condition.wait() }
        if failure == nil, result == nil {
            failure = ImageIOError(path: path, operation: "write (abandoned)", errno: ECANCELED)
        }
        try? file.close()
    }

    var isFinished: Bool {
        condition.lock()
        defer { condition.unlock() }
        return result != nil
    }

    private func refusalLocked() -> Error? {
        if let failure { return failure }
        if result != nil { return ImageIOError(path: path, operation: "write (after finish)", errno: EBADF) }
        return nil
    }
}
