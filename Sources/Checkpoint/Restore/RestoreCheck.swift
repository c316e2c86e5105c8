import Foundation

/// What `Restorer.check` found: the image would restore here, but for the
/// ids that are taken now.
public struct RestoreCheck: Sendable {
    public var processes: Int
    public var zombies: Int
    public var threads: Int
    public var vmas: Int
    /// Bytes of pages decompressed and checked, the parents' included.
    public var pageBytes: UInt64
    /// Process, thread and zombie ids of the image that something on this
    /// host has now: a restore would wait for them, then fail.
    public var takenIDs: [Int32]
    /// Files the processes had open that were written since the dump.
    public var warnings: [String]
}

extension Restorer {
    /// Reads and checks everything a restore reads before it creates a
    /// process, decompresses every page it would write (a damaged chunk
    /// would otherwise be found only half way through a restore), and
    /// checks the System V objects against this namespace and the stub,
    /// without creating anything: to learn that an image is whole and fits
    /// this host before the original is stopped for good. A nil
    /// `stubPath` leaves the stub out, for a check of the image alone.
    public static func check(directory: String, workers: Int = ProcessInfo.processInfo.activeProcessorCount,
                             stubPath: String? = RestoreOptions.defaultStubPath()) throws -> RestoreCheck {
        let (image, plan, warnings) = try verifiedPlan(directory, workers: workers)
        if let objects = plan.sysvIPC { _ = try SysVIPCRestorer.missing(objects) }
        if let stubPath { try requireStub(stubPath) }
        var readers = plan.processes.map { plan.pageReaders[$0.pid]! }
        readers += plan.inheritedPages.keys.sorted().flatMap { plan.inheritedPages[$0]!.map(\.reader) }
        var bytes: UInt64 = 0
        for reader in readers {
            defer { reader.closeFiles() }
            bytes += try decodeAll(reader) { _ in }
        }
        for object in plan.sharedMemory {
            bytes += try decodeAll(try image.pageReader(name: object.pagesFile)) {
                try $0.requireWithin(size: object.size, file: object.pagesFile, object: "object")
            }
        }
        for segment in plan.sysvIPC?.sharedMemory ?? [] {
            bytes += try decodeAll(try image.pageReader(name: segment.pagesFile)) {
                try $0.requireWithin(size: segment.size, file: segment.pagesFile, object: "segment")
            }
        }
        return RestoreCheck(
            processes: plan.processes.count, zombies: plan.zombies.count,
            threads: plan.processes.reduce(0) { $0 + $1.threads.count },
            vmas: plan.processes.reduce(0) { $0 + $1.vmas.count },
            pageBytes: bytes,
            takenIDs: plan.allIDs.filter { !PidAvailability.looksFree($0) },
            warnings: warnings)
    }

    private static func decodeAll(_ reader: PageStreamReader, _ checkChunk: (PageChunk) throws -> Void) throws -> UInt64 {
        var bytes: UInt64 = 0
        for location in reader.chunkLocations() {
            let chunk = try reader.readChunk(location)
            try checkChunk(chunk)
            bytes += UInt64(chunk.data.count)
        }
        return bytes
    }
}
