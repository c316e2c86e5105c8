import ArgumentParser
import Checkpoint
import Ptrace
import Foundation
import Glibc

@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crtool-bench",
        abstract: "Measure dump and restore speed against the machine's own memory bandwidth.",
        discussion: """
        For each size, workload (half: every other page zero; random: every page random) and codec, starts \
        fixture-counter, dumps it in-process, restores it and checks the restored process runs and has its \
        whole heap. Reports the best of --runs runs, process_vm_readv and memcpy bandwidth for scale, and \
        whether the performance targets are met. Needs root (restore picks the PID) and a release build of \
        the fixtures beside this binary. Targets not met do not change the exit status.
        """
    )

    @Option(help: "Sizes of touched memory in MiB, comma-separated.")
    var sizes = "64,512,2048"

    @Option(help: "Page codecs, comma-separated: none, zlib[:1-9], zstd[:1-19].")
    var codecs = "none,zstd"

    @Option(help: "Runs of every case; the best is reported.")
    var runs = 1

    @Option(help: "The tree workload: processes,shared MiB,heap MiB each (0,0,0 skips it).")
    var tree = "16,256,16"

    @Option(help: "MiB of the pre-dump workload (a dump on a pre-dump, and on a checkpoint with --track-mem, against a plain dump; 0 skips it).")
    var preDump = 2048

    @Flag(help: "Print the report as Markdown.")
    var markdown = false

    @Flag(inversion: .prefixedNo,
          help: "Write and delete a file of the image's size just before each dump, so that a VM handing idle memory back to its host does not make the dump's page-cache writes pay the host's page faults.")
    var warmPageCache = true

    func validate() throws {
        guard !(try sizeList()).isEmpty else { throw ValidationError("--sizes lists no size") }
        _ = try codecList()
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
    }

    func sizeList() throws -> [Int] {
        try sizes.split(separator: ",").map { part in
            guard let n = Int(part.trimmingCharacters(in: .whitespaces)), n > 0 else {
                throw ValidationError("\"\(part)\" is not a size in MiB")
            }
            return n
        }.sorted()
    }

    func codecList() throws -> [Codec] {
        try codecs.split(separator: ",").map { part in
            do { return try Codec(parsing: part.trimmingCharacters(in: .whitespaces)) } catch { throw ValidationError("\(error)") }
        }
    }

    func run() throws {
        guard geteuid() == 0 else { throw ValidationError("run as root: a restore must choose its PID") }
        try BuildProducts.require(BuildProducts.counterFixture)
        try BuildProducts.require(RestoreOptions.defaultStubPath())
        Interruption.install()
        let plan = BenchPlan(sizes: try sizeList(), codecs: try codecList(), runs: runs, warmPageCache: warmPageCache)
        try Subreaper.become()
        let results = try BenchRunner.run(plan)
        print(Report(plan: plan, results: results).render(markdown: markdown))
        let shape = tree.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        if shape.count == 3, shape[0] > 0 {
            try BuildProducts.require(BuildProducts.treeFixture)
            Console.note("tree: \(shape[0]) processes sharing \(shape[1]) MiB, \(shape[2]) MiB private heap each")
            let result = try TreeCycle.run(processes: shape[0], sharedMiB: shape[1], heapMiB: shape[2],
                                           codec: plan.codecs[0], runs: plan.runs, warmPageCache: warmPageCache)
            print(TreeReport.render(result, codec: plan.codecs[0], markdown: markdown))
        }
        if preDump > 0 {
            let result = try PreDumpCycle.run(heapMiB: preDump, codec: plan.codecs[0], runs: plan.runs, warmPageCache: warmPageCache)
            print(PreDumpReport.render(result, codec: plan.codecs[0], markdown: markdown))
        }
    }
}
