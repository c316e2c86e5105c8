import Foundation

/// The plain build's command line: `--seeds DIR` writes one input per
/// image file into DIR; otherwise every file named, or inside a directory
/// named, is run once through the target, so a crash libFuzzer found can
/// be seen again without instrumentation.
enum FuzzReplay {
    static func run(_ arguments: [String], target: ImageMutationTarget) -> Int32 {
        if arguments.first == "--seeds", arguments.count == 2 {
            let directory = arguments[1]
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                for seed in target.seeds {
                    try Data(seed.input).write(to: URL(fileURLWithPath: directory + "/" + seed.name))
                }
            } catch {
                FileHandle.standardError.write(Data("crtool-fuzz: cannot write seeds into \(directory): \(error)\n".utf8))
                return 1
            }
            print("wrote \(target.seeds.count) seeds into \(directory)")
            return 0
        }
        guard !arguments.isEmpty, !arguments.contains(where: { $0.hasPrefix("-") }) else {
            FileHandle.standardError.write(Data("usage: crtool-fuzz --seeds DIR | crtool-fuzz FILE|DIR...\n".utf8))
            return 2
        }
        var count = 0
        for path in arguments {
            let files = inputFiles(at: path)
            for file in files {
                guard let bytes = FileManager.default.contents(atPath: file) else {
                    FileHandle.standardError.write(Data("crtool-fuzz: cannot read \(file)\n".utf8))
                    return 1
                }
                [UInt8](bytes).withUnsafeBufferPointer { target.run($0) }
                count += 1
            }
        }
        print("ran \(count) inputs")
        return 0
    }

    /// A file, or the files directly inside a directory, sorted.
    private static func inputFiles(at path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.sorted().map { path + "/" + $0 }
    }
}
