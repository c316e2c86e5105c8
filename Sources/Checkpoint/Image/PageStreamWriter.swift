import Codecs
import Foundation

/// Appends page chunks to a page stream from any number of threads.
///
/// `append` compresses on the calling thread, so N dumping threads compress
/// in parallel. The stream may be striped over several files (`parts`):
/// the kernel serializes buffered writes to one file on its inode lock, so
/// with one file the copies into the page cache run one thread at a time
/// however many threads dump; with a part per thread they run side by
/// side. Each append takes a part no other thread is writing, reserves its
/// place there under one short lock and writes outside it; chunks land in
/// each part in the order their places were reserved. After the first
/// failed write the writer refuses further work and `finish` reports the
/// failure, so a dump cannot end with a silent hole in its pages.
///
/// Each part allocates its blocks ahead of its writes (`Part.allocate`)
/// and is cut back to what was written in `finish`.
public final class PageStreamWriter: @unchecked Sendable {
    /// The path of the first part, which names the stream.
    public let path: String
    public let codec: Codec
    private let parts: [Part]
    private let condition = NSCondition()
    private var writesInFlight = 0
    private var nextPart = 0
    private var failure: Error?
    private var result: PageStreamSummary?
    private let onFinish: (@Sendable ([(name: String, summary: PageStreamSummary)]) -> Void)?

    private final class Part {
        let name: String
        let file: ImageFile
        var summary = PageStreamSummary()
        var busy = false
        /// The file's blocks are allocated up to here; nil once
        /// allocating failed, after which the part is written plainly.
        var allocatedEnd: UInt64? = 0

        init(path: String) throws {
            name = (path as NSString).lastPathComponent
            file = try ImageFile.create(path)
        }

        /// The most a part allocates ahead of what it holds.
        static let maxAllocationAhead: UInt64 = 64 << 20

        /// Allocates blocks past `end` before a write up to it, when the
        /// blocks there are not yet allocated: as far ahead again as the
        /// part is long, at most 64 MiB, so that a small file asks for
        /// little and a large one asks seldom. Called by the one thread
        /// that writes the part.
        func allocate(upTo end: UInt64) {
            guard let allocated = allocatedEnd, end > allocated else { return }
            let target = end + min(max(end, 1 << 20), Self.maxAllocationAhead)
            allocatedEnd = file.allocate(from: allocated, to: target) ? target : nil
        }
    }

    /// Creates (or truncates) the file at `path`, mode 0600.
    public convenience init(path: String, codec: Codec) throws {
        try self.init(paths: [path], codec: codec, onFinish: nil)
    }

    /// One file per path; the first names the stream.
    init(paths: [String], codec: Codec, onFinish: (@Sendable ([(name: String, summary: PageStreamSummary)]) -> Void)?) throws {
        precondition(!paths.isEmpty)
        self.path = paths[0]
        self.codec = codec
        self.parts = try paths.map { try Part(path: $0) }
        self.onFinish = onFinish
    }

    public func append(_ chunk: PageChunk) throws {
        try append(EncodedPageChunk(chunk, codec: codec, file: parts[0].name))
    }

    /// Appends a chunk already encoded elsewhere, e.g. received over a
    /// socket, without compressing it again.
    public func append(_ chunk: EncodedPageChunk) throws {
        let chunkCRC = chunk.crc32
        condition.lock()
        var part: Part?
        while part == nil {
            if let refusal = refusalLocked() {
                condition.unlock()
                throw refusal
            }
            part = freePartLocked()
            if part == nil { condition.wait() }
        }
        let target = part!
        let offset = target.summary.fileSize
        target.summary.add(chunk.header, encodedSize: chunk.size, crc32: chunkCRC)
        target.busy = true
        writesInFlight += 1
        condition.unlock()

        var writeError: Error?
        do {
            target.allocate(upTo: offset + UInt64(chunk.size))
            try target.file.write(chunk.headerBytes, at: offset)
            try target.file.write(chunk.stored, at: offset + UInt64(chunk.headerBytes.count))
        } catch {
            writeError = error
        }

        condition.lock()
        target.busy = false
        writesInFlight -= 1
        if let writeError, failure == nil { failure = writeError }
        condition.broadcast()
        condition.unlock()
        if let writeError { throw writeError }
    }

    /// Parts in turn, so that they grow evenly.
    private func freePartLocked() -> Part? {
        for step in 0..<parts.count {
            let index = (nextPart + step) % parts.count
            if !parts[index].busy {
                nextPart = (index + 1) % parts.count
                return parts[index]
            }
        }
        return nil
    }

    /// Waits for writes in flight, closes the files and returns the totals
    /// of every part together (`crc32` is the first part's; each file's own
    /// goes to the manifest). Calling it again returns the same totals.
    public func finish() throws -> PageStreamSummary {
        condition.lock()
        defer { condition.unlock() }
        while writesInFlight > 0 { condition.wait() }
        if let result { return result }
        if let failure {
            for part in parts { try? part.file.close() }
            throw failure
        }
        do {
            for part in parts {
                // Blocks allocated ahead and never written go back.
                if part.allocatedEnd != 0 { try part.file.truncate(to: part.summary.fileSize) }
                try part.file.close()
            }
        } catch {
            failure = error
            throw error
        }
        var total = parts[0].summary
        for part in parts.dropFirst() { total.addPart(part.summary) }
        result = total
        onFinish?(parts.map { ($0.name, $0.summary) })
        return total
    }

    /// Closes the files after a failed dump; the caller removes them.
    public func abandon() {
        condition.lock()
        defer { condition.unlock() }
        while writesInFlight > 0 { condition.wait() }
        if failure == nil, result == nil {
            failure = ImageIOError(path: path, operation: "write (abandoned)", errno: ECANCELED)
        }
        for part in parts { try? part.file.close() }
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
