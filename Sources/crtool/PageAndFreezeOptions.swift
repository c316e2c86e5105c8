import ArgumentParser
import Codecs

/// What dump and pre-dump both take: the codec of the pages they write and
/// how long the tree may take to stop. Checked before anything is touched.
struct PageAndFreezeOptions: ParsableArguments {
    @Option(name: .long, help: "Page codec: none, zlib[:1-9] or zstd[:1-19].")
    var compress: String = "zstd:1"

    @Option(name: .long, help: "Seconds each thread may take to stop before crtool gives up and lets the tree go.")
    var timeout: Double = 10

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
