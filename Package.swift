// swift-tools-version:6.0
import PackageDescription

/// The sample workloads in C under fixtures/NAME/main.c, each built as an
/// executable `fixture-NAME` so tests find it beside crtool. Listed here,
/// not found by listing the folder: SwiftPM caches the evaluated manifest
/// by its text, so a folder added later would stay invisible to builds.
let fixtureNames: [String] = [
    "avx",
    "cloner",
    "compat",
    "confined",
    "controls",
    "counter",
    "deleted",
    "epoll",
    "epollserver",
    "eventfd",
    "fdpassing",
    "files",
    "forker",
    "hugepages",
    "inetecho",
    "inotify",
    "locks",
    "pidfds",
    "pipe",
    "places",
    "ptypair",
    "reader",
    "ring",
    "sharedtree",
    "sigio",
    "signalfd",
    "signals",
    "scheduled",
    "sleeper",
    "socketpairs",
    "sysvipc",
    "threads",
    "timerfd",
    "timers",
    "tree",
    "unixlisten",
    "unixserver",
    "vforker",
]

let fixtureTargets: [Target] = fixtureNames.map { name in
    .executableTarget(
        name: "fixture-\(name)",
        path: "fixtures/\(name)",
        cSettings: [.unsafeFlags(["-O2", "-mavx2"])],
        linkerSettings: [.linkedLibrary("pthread")]
    )
}

let package = Package(
    name: "crtool",
    products: [
        .executable(name: "crtool", targets: ["crtool"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .target(name: "CSupport", path: "Sources/CSupport"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CSeccomp", path: "Sources/CSeccomp", providers: [.apt(["libseccomp-dev"])]),
        // Optimized in debug builds too: tests checksum gigabytes.
        .target(name: "CChecksum", path: "Sources/CChecksum", cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "Codecs", dependencies: ["CZlib", "CZstd", "CChecksum"], path: "Sources/Codecs"),
        .target(name: "Ptrace", dependencies: ["CSupport", "CSeccomp"], path: "Sources/Ptrace"),
        .target(name: "Checkpoint", dependencies: ["Ptrace", "Codecs"], path: "Sources/Checkpoint"),
        .executableTarget(
            name: "crtool",
            dependencies: ["Checkpoint", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/crtool"
        ),
        .executableTarget(name: "crtool-restore-stub", path: "Sources/crtool-restore-stub"),
        .executableTarget(name: "crtool-keeper", path: "Sources/crtool-keeper"),
        .executableTarget(name: "crtool-guard", path: "Sources/crtool-guard"),
        // The image fuzzer: scripts/fuzz.sh builds it with libFuzzer.
        .executableTarget(name: "crtool-fuzz", dependencies: ["Checkpoint"], path: "Sources/crtool-fuzz"),
        .executableTarget(name: "crtool-bench", dependencies: ["Checkpoint", .product(name: "ArgumentParser", package: "swift-argument-parser")], path: "Sources/crtool-bench"),
        .testTarget(name: "PtraceTests", dependencies: ["Ptrace"], path: "Tests/PtraceTests"),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint", "Codecs"], path: "Tests/CheckpointTests"),
        .testTarget(name: "EndToEndTests", dependencies: ["Ptrace", "Checkpoint"], path: "Tests/EndToEndTests"),
    ] + fixtureTargets,
    swiftLanguageModes: [.v5]
)
