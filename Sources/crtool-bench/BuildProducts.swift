import Foundation

/// The fixture and the restore stub are built into the same directory as
/// this binary, so a release bench always runs release fixtures.
enum BuildProducts {
    static let directory: String = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().path
    }()

    static var counterFixture: String { directory + "/fixture-counter" }
    static var treeFixture: String { directory + "/fixture-sharedtree" }

    static func require(_ path: String) throws {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw BenchError("\(path) is missing: build everything first (swift build -c release)")
        }
    }
}
