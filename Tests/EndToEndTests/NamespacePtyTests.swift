import Checkpoint
import Foundation
import Glibc
import Ptrace
import XCTest

/// A pty of a devpts a mount namespace has of its own (a container's
/// /dev/pts), whose master the tree holds, comes back at its number in
/// the devpts the restore makes anew: fixtures/namespaces/ptyns.py talks
/// through it with a child whose controlling terminal it is. One whose
/// master is outside the tree is refused, naming it.
final class NamespacePtyTests: EndToEndCase {
    private let script = BuildProducts.packageRoot + "/fixtures/namespaces/ptyns.py"

    /// A devpts of the namespace's own at /dev/pts, reached through
    /// /dev/ptmx as containers have it.
    private let setup = "mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 crtool-pts /dev/pts && mount --bind /dev/pts/ptmx /dev/ptmx"

    func testAPtyOfTheNamespacesOwnDevptsComesBackInTheNewOne() throws {
        let program = try startProgram("ptyns", "/usr/bin/unshare", ["--mount", "/bin/sh", "-c", "\(setup) && exec python3 \(script)"],
                                       isReady: { $0.hasPrefix("ready") })
        defer { try? stopTree(program.pid) }
        let ready = try XCTUnwrap(program.log.lines().first { $0.hasPrefix("ready") }).split(separator: " ")
        XCTAssertEqual(ready[1], "/dev/pts/0")
        let child = try XCTUnwrap(Int32(ready[3]))
        try program.waitFor("tick", atLeast: 3)
        let terminalBefore = try ProcStat.read(pid: child).terminal

        let image = try checkpoint(program)
        let saved = try ImageDirectory.open(at: image).readJSON(ProcessImage.self, from: "process-\(program.pid).json")
        let master = try XCTUnwrap(saved.files.first { $0.kind == .ptyMaster })
        XCTAssertEqual(master.pty?.index, 0)
        XCTAssertEqual(master.pty?.devpts, "/dev/pts")
        try assertRestoreRefused(try editedCopy(of: image, file: "process-\(program.pid).json",
                                                replacing: "\"devpts\" : \"/dev/pts\"", with: "\"devpts\" : \"/dev/shm\""),
                                 pid: program.pid, mentioning: ["process-\(program.pid).json", "files[fd \(master.fd)].pty.devpts", "/dev/shm"])

        try restoreAndWatch(image, as: program)
        XCTAssertEqual(try ProcStat.read(pid: child).terminal, terminalBefore, "the child's controlling terminal")
        // The child's terminal is of the namespace's devpts, not crtool's.
        let own = try fileSystemDevice(of: "/proc/\(child)/root/dev/pts")
        XCTAssertEqual(try fileSystemDevice(of: "/proc/\(child)/fd/0"), own)
        XCTAssertNotEqual(own, try fileSystemDevice(of: "/dev/pts"), "the namespace has its own devpts again")
    }

    /// The slave is in the tree, its master in the process that made the
    /// pair, outside it: the new devpts would not have the terminal.
    func testATerminalWhoseMasterIsOutsideTheTreeIsRefused() throws {
        let hold = "import os, time\nm, s = os.openpty()\npid = os.fork()\nif pid == 0:\n    os.close(m)\n    print('child', os.getpid(), flush=True)\n"
            + "    time.sleep(600)\nos.close(s)\ntime.sleep(600)"
        let program = try startProgram("devpts", "/usr/bin/unshare", ["--mount", "/bin/sh", "-c", "\(setup) && exec python3 -c \"\(hold)\""],
                                       isReady: { $0.hasPrefix("child") })
        defer { try? stopTree(program.pid) }
        let line = try XCTUnwrap(program.log.lines().first { $0.hasPrefix("child") })
        let child = try XCTUnwrap(Int32(line.split(separator: " ")[1]))
        let holder = Fixture(name: "devpts-child", pid: child, log: program.log, stderrPath: program.stderrPath)
        try assertDumpRefused(holder, mentioning: ["the devpts at /dev/pts in mnt:[", "has terminals open in it whose masters are not in the tree (/dev/pts/0)"],
                              namingAnFd: false)
    }
}
