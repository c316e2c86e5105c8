import Foundation
import Glibc
import XCTest

/// A long job of the commonest kind: `make -j2` building a C program with
/// gcc -pipe, checkpointed while two compilers run (make, its jobserver
/// pipe, gcc drivers, cc1 writing assembly into a pipe that as reads, as
/// writing its object file). After the restore the build must finish, and
/// every object must be byte for byte what a build left alone makes.
final class MakeBuildScenarioTests: EndToEndCase {
    static let files = 10

    func testBuildCheckpointedMidwayMakesTheSameObjects() throws {
        try requirePrograms("/usr/bin/make", "/usr/bin/gcc", from: "Debian's make and gcc")
        let dir = try scratch.newDirectory("build")
        try writeSources(into: dir)
        let build = try startProgram("make", "/bin/sh", ["-c", "cd \(dir) && make -j2 2>&1; echo make exit $?"], isReady: nil)
        defer { try? stopTree(build.pid) }

        // Two compilers that started moments ago (a cc1 runs for about half a
        // second), so both are still at work when the tree
        // is frozen.
        let compiling = poll(timeout: 30, every: 0.005) {
            let compilers = ProcessTable.descendants(of: build.pid).filter {
                readTextFile("/proc/\($0)/comm") == "cc1\n" && (ProcessTable.stat($0)?.cpuTicks ?? 100) <= 5
            }
            return compilers.count == 2 && objects(in: dir).count >= 2
        }
        guard compiling else { throw HarnessError("make did not get to two compilers at once\n\(build.log.tail())") }
        let (image, pids) = try checkpointTree(build)
        let commands = try ImageContents(directory: image).commands()
        XCTAssertFalse(commands.filter { $0 == "cc1" }.isEmpty, "a compiler at work in the image: \(commands)")
        XCTAssertTrue(commands.contains("make"), "\(commands)")
        let builtBefore = objects(in: dir).count
        XCTAssertLessThan(builtBefore, Self.files + 1, "the build was not over at the dump")
        try restore(image, as: build)

        guard let status = try waitForExit(build.pid, timeout: 120) else {
            throw HarnessError("the restored build did not finish within 120 s\n\(build.log.tail())")
        }
        XCTAssertEqual(status, .exited(0))
        try reapAll(pids)
        XCTAssertTrue(build.log.lines().contains("make exit 0"), build.log.tail())

        let reference = try scratch.newDirectory("reference")
        try writeSources(into: reference)
        let made = try runCommand("/usr/bin/make", ["-C", reference, "-j2"], outputPrefix: scratch.newPath("reference-make"), timeout: 120)
        XCTAssertTrue(made.succeeded, "\(made)")
        for name in objects(in: reference) + ["prog"] {
            XCTAssertEqual(readWholeFile(dir + "/" + name), readWholeFile(reference + "/" + name), "\(name) differs from the one a build left alone made")
        }
        let run = try runCommand(dir + "/prog", [], outputPrefix: scratch.newPath("prog"), timeout: 10)
        XCTAssertTrue(run.succeeded && !run.stdout.isEmpty, "\(run)")
    }

    private func objects(in dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".o") }.sorted()
    }

    /// Ten files of 2500 lines of arithmetic, each about half a second
    /// of cc1, and a main that calls them all.
    private func writeSources(into dir: String) throws {
        for i in 0..<Self.files {
            var text = "int f\(i)(int x) {\n  int s = x;\n"
            for k in 0..<2500 { text += "  s = s * \(k + 3) + (s >> \(k % 7 + 1)) ^ \(i * k + 1);\n" }
            text += "  return s;\n}\n"
            try writeWholeFile(dir + "/f\(i).c", Array(text.utf8))
        }
        var main = "#include <stdio.h>\n"
        for i in 0..<Self.files { main += "int f\(i)(int);\n" }
        main += "int main(void) {\n  long t = 0;\n"
        for i in 0..<Self.files { main += "  t += f\(i)(\(i));\n" }
        main += "  printf(\"%ld\\n\", t);\n  return 0;\n}\n"
        try writeWholeFile(dir + "/main.c", Array(main.utf8))
        let objects = (0..<Self.files).map { "f\($0).o" }.joined(separator: " ")
        let makefile = "prog: main.o \(objects)\n\tgcc -o $@ $^\n%.o: %.c\n\tgcc -O2 -pipe -c $< -o $@\n"
        try writeWholeFile(dir + "/Makefile", Array(makefile.utf8))
    }
}
