import Foundation
import Glibc

/// What a dump or pre-dump measured of itself, kept beside its image in
/// `stats-dump` (CRIU's name for it), so that `crtool show` can tell later
/// how long the tree was frozen and where the time went, as the summary
/// line did when the dump ended.
///
/// It is written once the tree is let go or killed, since only then is the
/// frozen time known, and that is after the manifest is sealed: the file
/// is a note about the image, outside its checksums, not part of it. A
/// damaged one costs the image nothing; `read` still names its field.
public struct DumpStatistics: Codable, Sendable, Equatable {
    public static let fileName = "stats-dump"
    static let maxSize = 64 << 10
    static let maxPhases = 64
    /// A longer time than this (about 115 days) is damage, not a dump.
    static let maxSeconds = 1e7

    public struct Phase: Codable, Sendable, Equatable {
        public var name: String
        public var seconds: Double

        public init(name: String, seconds: Double) {
            self.name = name
            self.seconds = seconds
        }
    }

    /// "dump" or "pre-dump".
    public var operation: String
    public var frozenSeconds: Double
    public var totalSeconds: Double
    public var phases: [Phase]
    public var pagesStored: UInt64
    /// Pages read as all zeros and not stored; a pre-dump does not count them.
    public var zeroPages: UInt64?
    public var pagesInherited: UInt64
    public var bytesRead: UInt64
    public var bytesWritten: UInt64
    /// Whether the tree ran on after it (--leave-running, a pre-dump).
    public var treeRanOn: Bool

    public init(operation: String, frozenSeconds: Double, totalSeconds: Double, phases: [(name: String, seconds: Double)],
                pagesStored: UInt64, zeroPages: UInt64?, pagesInherited: UInt64, bytesRead: UInt64, bytesWritten: UInt64,
                treeRanOn: Bool) {
        self.operation = operation
        self.frozenSeconds = frozenSeconds
        self.totalSeconds = totalSeconds
        self.phases = phases.map { Phase(name: $0.name, seconds: $0.seconds) }
        self.pagesStored = pagesStored
        self.zeroPages = zeroPages
        self.pagesInherited = pagesInherited
        self.bytesRead = bytesRead
        self.bytesWritten = bytesWritten
        self.treeRanOn = treeRanOn
    }

    /// Writes the file into `directory` whole or not at all (a temporary
    /// name, then rename), readable by its owner only, like the image.
    public func write(to directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let bytes = [UInt8](try encoder.encode(self))
        let temporary = directory + "/." + Self.fileName + ".tmp"
        let file = try ImageFile.create(temporary)
        do {
            try file.write(bytes, at: 0)
            try file.close()
            try FileSystem.rename(temporary, to: directory + "/" + Self.fileName)
        } catch {
            try? FileSystem.remove(temporary)
            throw error
        }
    }

    /// The statistics kept in `directory`, nil when there are none (an
    /// image made before they were kept, or one whose dump could not write
    /// them).
    public static func read(from directory: String) throws -> DumpStatistics? {
        let path = directory + "/" + fileName
        let file: ImageFile
        do {
            file = try ImageFile.openForReading(path)
        } catch let error as ImageIOError where error.errno == ENOENT {
            return nil
        }
        let size = try file.regularFileSize()
        guard size <= UInt64(maxSize) else {
            throw ImageError(file: fileName, field: "size", reason: "\(size) bytes is too large for dump statistics")
        }
        let bytes = try file.read(count: Int(size), at: 0)
        let statistics: DumpStatistics
        do {
            statistics = try JSONDecoder().decode(DumpStatistics.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw ImageError(file: fileName, decoding: error)
        }
        if let (field, reason) = statistics.problem {
            throw ImageError(file: fileName, field: field, reason: reason)
        }
        return statistics
    }

    /// The first field that no dump could have written, and why.
    var problem: (field: String, reason: String)? {
        guard ["dump", "pre-dump"].contains(operation) else { return ("operation", "\"\(operation)\" is neither dump nor pre-dump") }
        for (field, value) in [("frozenSeconds", frozenSeconds), ("totalSeconds", totalSeconds)] {
            if let reason = Self.timeProblem(value) { return (field, reason) }
        }
        guard phases.count <= Self.maxPhases else { return ("phases", "\(phases.count) phases, more than \(Self.maxPhases)") }
        for (i, phase) in phases.enumerated() {
            guard !phase.name.isEmpty, phase.name.count <= 64,
                  phase.name.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || $0 == "-" || $0 == " " }) else {
                return ("phases[\(i)].name", "not a phase name")
            }
            if let reason = Self.timeProblem(phase.seconds) { return ("phases[\(i)].seconds", reason) }
        }
        return nil
    }

    private static func timeProblem(_ seconds: Double) -> String? {
        seconds.isFinite && seconds >= 0 && seconds <= maxSeconds ? nil : "\(seconds) is not a time a dump took"
    }
}
