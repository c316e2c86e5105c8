import Checkpoint
import Foundation

// The image fuzzer. Built with `-sanitize=fuzzer -DLIBFUZZER`
// (scripts/fuzz.sh) it is libFuzzer, coverage-guided, and takes
// libFuzzer's arguments; built plainly it replays inputs (a crash file
// libFuzzer saved, a corpus) through the same target, or writes seeds.
// Either way CRTOOL_FUZZ_IMAGES names the images to damage, separated by
// colons: copies, because inputs are written into them.

let images = (ProcessInfo.processInfo.environment["CRTOOL_FUZZ_IMAGES"] ?? "").split(separator: ":").map(String.init)
guard !images.isEmpty else {
    FileHandle.standardError.write(Data("crtool-fuzz: set CRTOOL_FUZZ_IMAGES to image directories, separated by colons (copies: inputs are written into them)\n".utf8))
    exit(2)
}
let target: ImageMutationTarget
do {
    target = try ImageMutationTarget(images: images)
} catch {
    FileHandle.standardError.write(Data("crtool-fuzz: \(error)\n".utf8))
    exit(2)
}

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    target.run(UnsafeBufferPointer(start: data, count: size))
    return 0
}

#if LIBFUZZER
@_silgen_name("LLVMFuzzerRunDriver")
func runLibFuzzer(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                  _ body: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt
var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(runLibFuzzer(&argc, &argv, fuzzOne))
#else
exit(FuzzReplay.run(Array(CommandLine.arguments.dropFirst()), target: target))
#endif
