import Foundation
import Glibc
import XCTest

/// A JVM (OpenJDK from Debian): some twenty threads, the G1 collector,
/// JIT-compiled code, a heap of a few hundred MiB reserved and partly
/// touched, four threads of the program's own contending for one monitor.
/// After the restore the program must go on from the next tick with its
/// map intact and its counts adding up, the collector must still run, and
/// the JVM must still answer jcmd, which attaches through a signal and a
/// Unix socket the restored JVM makes on demand.
final class JavaScenarioTests: EndToEndCase {
    static let java = "/usr/bin/java"
    static let jcmd = "/usr/bin/jcmd"

    func testJVMCarriesOnAndAnswersJcmdAfterRestore() throws {
        try requirePrograms(Self.java, Self.jcmd, from: "Debian's openjdk-17-jdk-headless")
        let source = BuildProducts.packageRoot + "/fixtures/java/Workers.java"
        let jvm = try startProgram("jvm", Self.java, ["-Xmx256m", "-XX:-UsePerfData", source], readyTimeout: 60)
        defer { try? stopTree(jvm.pid) }
        try jvm.waitFor("tick", atLeast: 12)
        // The JVM starts and ends compiler and GC threads as it likes, so
        // the number is only roughly the same from one moment to the next.
        XCTAssertGreaterThan(ProcessTable.threadIds(of: jvm.pid).count, 15, "the JVM's threads")

        let totalBefore = try XCTUnwrap(lastTotal(jvm, from: 0))
        let (_, mark) = try roundTrip(jvm)
        let last = try assertNextTick(jvm, after: mark)
        XCTAssertGreaterThan(ProcessTable.threadIds(of: jvm.pid).count, 15, "the JVM's threads after the restore")
        // Two System.gc() calls at least, and the counters going on.
        try jvm.waitFor("tick", atLeast: last + 21, from: mark)
        XCTAssertGreaterThan(try XCTUnwrap(lastTotal(jvm, from: mark)), totalBefore, "the counters go on")

        let printed = try runCommand(Self.jcmd, [String(jvm.pid), "Thread.print"], outputPrefix: scratch.newPath("jcmd"), timeout: 60)
        XCTAssertTrue(printed.succeeded, "\(printed)")
        for n in 0..<4 {
            XCTAssertTrue(printed.stdout.contains("\"counter-\(n)\""), "jcmd Thread.print lists counter-\(n):\n\(printed.stdout.prefix(2000))")
        }
        try jvm.waitForMore("tick", 3, after: jvm.lineCount)
        assertNoFailures(jvm)
    }

    /// A JVM asked for transparent huge pages, its heap touched whole at
    /// start, keeps them: right after the restore the process has at
    /// least as much memory in huge pages as the image recorded, mostly a
    /// heap of zeroes the image does not store, and the program goes on.
    func testJVMHeapInTransparentHugePagesComesBackInThem() throws {
        try requirePrograms(Self.java, from: "Debian's openjdk-17-jdk-headless")
        let source = BuildProducts.packageRoot + "/fixtures/java/Workers.java"
        let jvm = try startProgram("jvm-thp", Self.java, ["-Xms256m", "-Xmx256m", "-XX:+UseTransparentHugePages", "-XX:+AlwaysPreTouch",
                                                          "-XX:-UsePerfData", source], readyTimeout: 60)
        defer { try? stopTree(jvm.pid) }
        try jvm.waitFor("tick", atLeast: 3)

        let image = try checkpoint(jvm)
        let recorded = try recordedHugePageBytes(image, pid: jvm.pid)
        XCTAssertGreaterThanOrEqual(recorded, 200 << 20, "the pre-touched heap was in huge pages at the dump")
        let mark = jvm.lineCount
        try restore(image, as: jvm)
        let rollup = readTextFile("/proc/\(jvm.pid)/smaps_rollup") ?? ""
        let huge = rollup.split(separator: "\n").first { $0.hasPrefix("AnonHugePages:") }.flatMap { UInt64($0.split(separator: " ")[1]) }
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(huge, rollup) << 10, recorded, "bytes in transparent huge pages after the restore")
        let last = try assertNextTick(jvm, after: mark)
        try jvm.waitFor("tick", atLeast: last + 5, from: mark)
        assertNoFailures(jvm)
    }

    /// The bytes of `pid`'s runs of transparent huge pages in the image.
    private func recordedHugePageBytes(_ image: String, pid: pid_t) throws -> UInt64 {
        let data = try XCTUnwrap(FileManager.default.contents(atPath: "\(image)/process-\(pid).json"))
        let process = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let vmas = try XCTUnwrap(process["vmas"] as? [[String: Any]])
        let runs = vmas.flatMap { ($0["transparentHugePages"] as? [[String: Any]]) ?? [] }
        return runs.reduce(0) { $0 + UInt64(($1["pageCount"] as? Int) ?? 0) * 4096 }
    }

    /// t of the last "tick <n> total <t> checksum <c>" line at `from` or later.
    private func lastTotal(_ jvm: Fixture, from start: Int) -> Int? {
        jvm.log.lines().dropFirst(start).last { $0.hasPrefix("tick ") }.flatMap { line in
            let words = line.split(separator: " ")
            return words.count == 6 && words[2] == "total" ? Int(words[3]) : nil
        }
    }
}
