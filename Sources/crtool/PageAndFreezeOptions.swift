import ArgumentParser
import Codecs

/// What dump and pre-dump both take: the codec of the pages they write and
/// how the tree is stopped and how long it may take. Checked before anything is touched.
struct PageAndFreezeOptions: ParsableArguments {
    @Option(name: .long, help: "Page codec: none, zlib[:1-9] or zstd[:1-19].")
    var compress: String = "zstd:1"

    @Option(name: .long, help: "Seconds each thread may take to stop (and twice that each process, however busy its threads keep it) before crtool gives up and lets the tree go.")
    var timeout: Double = 10

    @Option(name: .customLong("freeze-cgroup"), help: ArgumentHelp(
        "Freeze this cgroup (v2, or a v1 freezer cgroup) while the tree is seized, then thaw it.",
        discussion: "Every task stops at one moment, and none forks or execs while the tree is walked. A cgroup that was frozen "
            + "(a paused container or service) is frozen again after the dump; a tree in a frozen cgroup can be dumped only so.",
        valueName: "dir"))
    var freezeCgroup: String?

    func validate() throws {
        _ = try codec()
        guard timeout > 0 else { throw ValidationError("--timeout takes a number of seconds above 0, not \(timeout)") }
    }

    /// The codec --compress names.
    func codec() throws -> Codec {
        do {
            return try Codec(parsing: compress)
        } catch {
            throw ValidationError("--compress: \(error)")
        }
    }
}
