import Glibc

/// Where the binaries under test live: SwiftPM puts crtool, the fixtures
/// and the test bundle (this very executable) in one products directory, so
/// the tests always run the binaries built with them.
enum BuildProducts {
    static let directory: String = {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        precondition(n > 0, "cannot read /proc/self/exe")
        let exe = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return parent(of: exe)
    }()

    static var crtool: String { directory + "/crtool" }

    static func fixture(_ name: String) -> String {
        directory + "/fixture-" + name
    }

    /// The package root, found from this source file rather than the build
    /// directory, whose depth depends on the build's configuration.
    static let packageRoot: String = {
        var path = #filePath
        for _ in 0..<4 { path = parent(of: path) }   // Support, EndToEndTests, Tests
        return path
    }()

    static var pythonFixture: String { packageRoot + "/fixtures/python/dict_holder.py" }

    /// A real interpreter rather than a version-manager shim, so the process
    /// that gets checkpointed is python itself from its first instruction.
    static let python3: String? = {
        var candidates = ["/usr/bin/python3", "/usr/local/bin/python3"]
        if let path = getenv("PATH").map({ String(cString: $0) }) {
            candidates += path.split(separator: ":").map { "\($0)/python3" }
        }
        return candidates.first { access($0, X_OK) == 0 }
    }()

    /// `python3`, or an error that says how to install it.
    static func requirePython3() throws -> String {
        guard let python = python3 else { throw HarnessError("python3 is missing: scripts/install-deps.sh installs it") }
        return python
    }

    static func requireExecutable(_ path: String) throws {
        guard access(path, X_OK) == 0 else {
            throw HarnessError("\(path) is missing: build everything first (swift build --build-tests)")
        }
    }

    private static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
