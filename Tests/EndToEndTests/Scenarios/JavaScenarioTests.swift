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

    /// t of the last "tick <n> total <t> checksum <c>" line at `from` or later.
    private func lastTotal(_ jvm: Fixture, from start: Int) -> Int? {
        jvm.log.lines().dropFirst(start).last { $0.hasPrefix("tick ") }.flatMap { line in
            let words = line.split(separator: " ")
            return words.count == 6 && words[2] == "total" ? Int(words[3]) : nil
        }
    }
}
