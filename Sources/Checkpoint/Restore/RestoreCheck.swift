import Foundation
import Ptrace

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
    /// What the restore would warn of: files the processes had open that
    /// were written since the dump, cgroups that do not exist here and
    /// would not be made.
    public var warnings: [String]
}

extension Restorer {
    /// Reads and checks everything a restore reads before it creates a
    /// process, decompresses every page it would write (a damaged chunk
    /// would otherwise be found only half way through a restore), and
    /// checks the System V objects against this namespace, the stub, the
    /// addresses of listeners and UDP sockets and the hugetlb pool,
    /// without creating anything: to learn that an image is whole and fits
    /// this host before the original is stopped for good. A nil
    /// `stubPath` leaves the stub out, for a check of the image alone.
    /// `shellJob` checks for a restore with --shell-job, `cpuChecks` for
    /// one with --cpu-cap, `vdsoBridge` for one with --vdso-bridge,
    /// `inherited` for one with --inherit-fd, `relocation` for one with
    /// --cgroup-root, --root or --ext-mount-map, `manageCgroups` for one
    /// with --manage-cgroups.
    public static func check(directory: String, workers: Int = ProcessInfo.processInfo.activeProcessorCount,
                             stubPath: String? = RestoreOptions.defaultStubPath(), shellJob: Bool = false,
                             cpuChecks: CPUChecks = .all, vdsoBridge: VDSOBridgeMode = .auto,
                             inherited: [ExternalFiles.Inherited] = [], relocation: Relocation = Relocation(),
                             manageCgroups: CgroupManagement = .soft) throws -> RestoreCheck {
        let (image, plan, warnings) = try verifiedPlan(directory, workers: workers, shellJob: shellJob, cpuChecks: cpuChecks,
                                                       vdsoBridge: vdsoBridge, inherited: inherited, relocation: relocation)
        let sysvMissing = try plan.sysvIPC.map { try SysVIPCRestorer.missing($0) }
        let givenIPC = try GivenIPCNamespaces(plan.namespaces, given: plan.givenNamespaces)
        if let stubPath { try requireStub(stubPath) }
        let cgroups = CgroupPlacement.here(given: plan.givenCgroups, mode: manageCgroups, saved: plan.cgroups)
        try cgroups.requireThawed(plan.processes)
        try cgroups.requireRoots(of: plan.namespaces)
        let bytes = try decodeAll(try pageStreams(image, plan), workers: workers)
        let takenIDs = plan.allIDs.filter { !PidAvailability.looksFree($0) }
        // Taken ids mean the original, or its pids' new owners, still run:
        // its ports and huge pages are its own, and the ids are the answer.
        if takenIDs.isEmpty { try requireRoomOnHost(plan, makingSegments: (sysvMissing?.segments ?? []) + givenIPC.segmentsToMake, seconds: 0) }
        return RestoreCheck(
            processes: plan.processes.count, zombies: plan.zombies.count,
            threads: plan.processes.reduce(0) { $0 + $1.threads.count },
            vmas: plan.processes.reduce(0) { $0 + $1.vmas.count },
            pageBytes: bytes,
            takenIDs: takenIDs,
            warnings: warnings + cgroups.missing(for: plan.processes))
    }

    /// Every page stream a restore of `plan` would write from: the
    /// processes', the parent images' they take pages from, and the
    /// shared-memory objects' and System V segments', whose chunks must
    /// each lie inside their object.
    private static func pageStreams(_ image: ImageDirectory, _ plan: RestorePlan) throws -> [CheckedStream] {
        var streams = plan.processes.map { CheckedStream(reader: plan.pageReaders[$0.pid]!) }
        streams += plan.inheritedPages.keys.sorted().flatMap { plan.inheritedPages[$0]!.map { CheckedStream(reader: $0.reader) } }
        for object in plan.sharedMemory {
            streams.append(CheckedStream(reader: try image.pageReader(name: object.pagesFile)) {
                try $0.requireWithin(size: object.size, file: object.pagesFile, object: "object")
            })
        }
        for segment in (plan.sysvIPC?.sharedMemory ?? []) + plan.namespaces.flatMap({ $0.sysvIPC?.sharedMemory ?? [] }) {
            streams.append(CheckedStream(reader: try image.pageReader(name: segment.pagesFile)) {
                try $0.requireWithin(size: segment.size, file: segment.pagesFile, object: "segment")
            })
        }
        return streams
    }

    /// A page stream to decode whole, and what each of its chunks must
    /// also satisfy.
    private struct CheckedStream {
        var reader: PageStreamReader
        var checkChunk: (PageChunk) throws -> Void = { _ in }
    }

    /// Decodes every chunk of every stream on `workers` threads, chunk by
    /// chunk in stream order, so that a large image takes its
    /// decompression's time spread over the cores, and returns the bytes
    /// decoded. A stream's files are closed once its last chunk is done,
    /// so a tree of many processes does not hold all its page files open.
    private static func decodeAll(_ streams: [CheckedStream], workers: Int) throws -> UInt64 {
        let chunks = streams.indices.flatMap { stream in streams[stream].reader.chunkLocations().map { (stream, $0) } }
        var left = streams.map { $0.reader.chunkLocations().count }
        var bytes: UInt64 = 0
        let lock = Lock()
        defer { for stream in streams { stream.reader.closeFiles() } }
        for (stream, count) in left.enumerated() where count == 0 { streams[stream].reader.closeFiles() }
        try ParallelWork.run(count: chunks.count, workers: workers) {
            { i in
                let (stream, location) = chunks[i]
                let chunk = try streams[stream].reader.readChunk(location)
                try streams[stream].checkChunk(chunk)
                let done: Bool = lock.withLock {
                    bytes += UInt64(chunk.data.count)
                    left[stream] -= 1
                    return left[stream] == 0
                }
                if done { streams[stream].reader.closeFiles() }
            }
        }
        return bytes
    }
}
