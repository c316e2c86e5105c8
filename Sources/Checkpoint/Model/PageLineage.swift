/// How one process's pages in an image made on top of a parent image
/// (`pre-dump`, `dump --prev-images-dir`) depend on that parent.
///
/// The image's own page file holds the pages written since the parent
/// was made. The pages in `inherited` were not written since and the
/// parent holds them: in its own page file, or among the pages it
/// inherited in turn. Every other page the parent holds is not taken
/// from it: the process wrote it since, dropped it or unmapped it.
public struct PageLineage: Codable, Equatable, Sendable {
    public var pid: Int32
    /// The process's start time, so that a process given the same pid
    /// later is never taken for this one.
    public var startTime: UInt64
    /// Runs of pages taken from the parent image, sorted by address, not
    /// overlapping or touching.
    public var inherited: [PageRange]
    /// The userfaultfd that goes on tracking the process's writes for the
    /// next image, held by crtool-keeper (pre-dumps only).
    public var tracker: OutsideHolder?

    public init(pid: Int32, startTime: UInt64, inherited: [PageRange] = [], tracker: OutsideHolder? = nil) {
        self.pid = pid
        self.startTime = startTime
        self.inherited = inherited
        self.tracker = tracker
    }

    public static func fileName(pid: Int32) -> String { "lineage-\(pid).json" }

    /// Process `pid`'s lineage in `image`, nil when the image lists none;
    /// a file that names another pid is refused.
    public static func read(from image: ImageDirectory, pid: Int32) throws -> PageLineage? {
        let name = fileName(pid: pid)
        guard image.manifest.files[name] != nil else { return nil }
        let lineage = try image.readJSON(PageLineage.self, from: name)
        guard lineage.pid == pid else {
            throw ImageError(file: name, field: "pid", reason: "\(lineage.pid), but the file is pid \(pid)'s")
        }
        return lineage
    }

    /// A pre-dump's page file, which has no process file to name it.
    public static func pagesFileName(pid: Int32) -> String { "pages-\(pid).img" }

    public var inheritedPages: UInt64 { PageRanges.pageCount(inherited) }
}
