import Checkpoint
import Glibc
import Ptrace
import XCTest

/// Processes in UTS and IPC namespaces of their own (unshare, systemd's
/// ProtectHostname= and PrivateIPC=) come back in namespaces of their own,
/// shared as they were, with their names. Each program (ticker.py) checks
/// what it sees every 50 ms: a restore into crtool's namespaces, or into
/// the wrong one, makes it report FAIL.
final class NamespaceTests: EndToEndCase {
    private let ticker = BuildProducts.packageRoot + "/fixtures/namespaces/ticker.py"

    func testAProcessInAUTSNamespaceOfItsOwnKeepsItsNames() throws {
        let host = UTSNames.current()
        let program = try startTicker("solo", hostname: "crtool-uts-a", domainname: "dom-a", ticks: 2)
        defer { try? stopTree(program.pid) }
        XCTAssertNotEqual(try NamespaceKind.uts.id(pid: program.pid), try NamespaceKind.uts.ownID())

        let image = try checkpoint(program)
        let mark = program.lineCount
        try restore(image, as: program)
        try program.waitFor("solo tick", atLeast: (program.numbers("solo tick").last ?? 0) + 3, from: mark)

        assertSequence(program, "solo tick")
        let after = program.log.lines().dropFirst(mark).filter { $0.hasPrefix("solo tick") }
        XCTAssertFalse(after.isEmpty)
        for line in after {
            XCTAssertTrue(line.contains(" host crtool-uts-a dom dom-a "), "after the restore: \(line)")
        }
        XCTAssertEqual(program.log.lines().filter { $0.contains("FAIL") }, [])
        XCTAssertNotEqual(try NamespaceKind.uts.id(pid: program.pid), try NamespaceKind.uts.ownID(),
                          "the restored process is in crtool's UTS namespace")
        XCTAssertEqual(UTSNames.current(), host, "the restore renamed the host")
        XCTAssertEqual(try ImageDirectory.open(at: image).manifest.formatVersion, Manifest.namespacesFormatVersion)
        let shown = try crtool(["show", image])
        XCTAssertTrue(shown.stdout.contains("UTS namespace") && shown.stdout.contains("hostname crtool-uts-a, domainname dom-a"), "\(shown)")
    }

    /// setup-namespaces runs once the namespaces are made and named, each
    /// process in its own; a script that fails there kills what was made.
    func testASetupNamespacesScriptRunsInTheNamespacesMade() throws {
        let program = try startTicker("scripted", hostname: "scripted")
        defer { try? stopTree(program.pid) }
        let image = try checkpoint(program)
        let log = scratch.newPath("actions.log")
        let failing = try crtool(["restore", "-D", image, "-d", "--action-script", "[ \"$CRTOOLS_SCRIPT_ACTION\" != setup-namespaces ]"])
        XCTAssertEqual(failing.status, .exited(1), "\(failing)")
        XCTAssertTrue(failing.stderr.contains("failed at setup-namespaces"), "\(failing)")
        XCTAssertFalse(ProcessTable.isAlive(program.pid), "a failed restore left pid \(program.pid)")

        let script = "echo \"$CRTOOLS_SCRIPT_ACTION ${CRTOOLS_INIT_PID:+$(nsenter --uts=/proc/$CRTOOLS_INIT_PID/ns/uts hostname)}\" >> \(log)"
        try restore(image, as: program, options: ["--action-script", script])
        XCTAssertEqual(readTextFile(log), "pre-restore \nsetup-namespaces scripted\npost-restore scripted\npre-resume scripted\npost-resume scripted\n")
        try program.waitFor("scripted tick", atLeast: (program.numbers("scripted tick").last ?? 0) + 2)
    }

    /// A namespace list that does not hold together is refused before
    /// anything is made, naming the file and the field.
    func testAnImageWithANamespaceListThatDoesNotHoldIsRefused() throws {
        let program = try startTicker("listed", hostname: "listed")
        defer { try? stopTree(program.pid) }
        let image = try checkpoint(program)
        let listed = image + "/" + NamespaceImage.listFile
        let processFile = "process-\(program.pid).json"
        let id = try XCTUnwrap(try ImageDirectory.open(at: image).readJSON([NamespaceImage].self, from: NamespaceImage.listFile).first?.id)
        let edits: [(file: String, from: String, to: String, field: String)] = [
            (NamespaceImage.listFile, "\"listed\"", "\"\(String(repeating: "x", count: 65))\"", "[0].hostname"),
            (NamespaceImage.listFile, "\"uts\"", "\"user\"", "[0].uidMap"),
            (NamespaceImage.listFile, "\"domainname\"", "\"domain\"", "[0].domainname"),
            (processFile, "\(id)", "\(id + 1)", "namespaces.uts"),
        ]
        XCTAssertTrue(fileExists(listed))
        for edit in edits {
            let copy = try editedCopy(of: image, file: edit.file, replacing: edit.from, with: edit.to)
            try assertRestoreRefused(copy, pid: program.pid, mentioning: [edit.file, edit.field])
        }
        try restore(image, as: program)
        try program.waitFor("listed tick", atLeast: (program.numbers("listed tick").last ?? 0) + 2)
    }

    /// Made, entered from a sibling, inherited from a parent, and left for
    /// the tree's first namespace: each way a process comes to be in a UTS
    /// namespace (fixtures/namespaces/tree.sh).
    func testATreeSharesItsUTSNamespacesAsBefore() throws {
        let script = BuildProducts.packageRoot + "/fixtures/namespaces/tree.sh"
        let tree = try startProgram("tree", "/bin/sh", [script, ticker])
        defer { try? stopTree(tree.pid) }
        let letters = ["a", "b", "c", "d", "e"]
        for letter in letters { try tree.waitFor("\(letter) tick", atLeast: 1) }
        let pids = try taggedPids(under: tree.pid)
        XCTAssertEqual(Set(pids.keys), Set(letters), "the tree: \(pids)")
        let host = UTSNames.current().hostname
        let expected = ["a": "one", "b": "one", "c": "two", "d": "two", "e": host]
        try assertSharing(pids)

        let (image, _) = try checkpointTree(tree)
        let mark = tree.lineCount
        try restore(image, as: tree)
        for letter in letters {
            try tree.waitFor("\(letter) tick", atLeast: (tree.numbers("\(letter) tick").last ?? 0) + 3, from: mark)
        }
        for letter in letters {
            assertSequence(tree, "\(letter) tick")
            let after = tree.log.lines().dropFirst(mark).filter { $0.hasPrefix("\(letter) tick") }
            XCTAssertFalse(after.isEmpty, letter)
            for line in after where !line.contains(" host \(expected[letter]!) ") {
                XCTFail("\(letter) after the restore: \(line)")
            }
        }
        XCTAssertEqual(tree.log.lines().filter { $0.contains("FAIL") }, [])
        XCTAssertEqual(try taggedPids(under: tree.pid), pids)
        try assertSharing(pids)
    }

    /// a and b share one namespace, c and d another, e is in crtool's.
    private func assertSharing(_ pids: [String: pid_t], file: StaticString = #filePath, line: UInt = #line) throws {
        let ns = try pids.mapValues { try NamespaceKind.uts.id(pid: $0) }
        let own = try NamespaceKind.uts.ownID()
        XCTAssertEqual(ns["a"], ns["b"], "\(ns)", file: file, line: line)
        XCTAssertEqual(ns["c"], ns["d"], "\(ns)", file: file, line: line)
        XCTAssertEqual(ns["e"], own, "\(ns)", file: file, line: line)
        XCTAssertNotEqual(ns["a"], own, "\(ns)", file: file, line: line)
        XCTAssertNotEqual(ns["d"], own, "\(ns)", file: file, line: line)
        XCTAssertNotEqual(ns["a"], ns["d"], "\(ns)", file: file, line: line)
    }

    func testAProcessInAnIPCNamespaceOfItsOwnSeesNoneOfTheHostsObjects() throws {
        let segment = shmget(IPC_PRIVATE, 4096, 0o600 | IPC_CREAT)
        XCTAssertGreaterThanOrEqual(segment, 0)
        defer { shmctl(segment, IPC_RMID, nil) }
        let program = try startTicker("ipc", wrapper: ["/usr/bin/unshare", "--ipc"])
        defer { try? stopTree(program.pid) }
        try program.waitFor("ipc tick", atLeast: 2)
        XCTAssertTrue(program.log.lines().contains { $0.hasSuffix("shm 0 sem 0 msg 0") })

        let image = try checkpoint(program)
        let mark = program.lineCount
        try restore(image, as: program)
        try program.waitFor("ipc tick", atLeast: (program.numbers("ipc tick").last ?? 0) + 3, from: mark)

        assertSequence(program, "ipc tick")
        for line in program.log.lines().dropFirst(mark) {
            XCTAssertTrue(line.hasSuffix("shm 0 sem 0 msg 0"), "after the restore: \(line)")
        }
        XCTAssertNotEqual(try NamespaceKind.ipc.id(pid: program.pid), try NamespaceKind.ipc.ownID(),
                          "the restored process is in crtool's IPC namespace")
        XCTAssertEqual(try NamespaceKind.uts.id(pid: program.pid), try NamespaceKind.uts.ownID())
    }

    /// Objects of the tree's own IPC namespace that no process maps or
    /// holds (made by ipcmk, as a service's setup script might) go with
    /// the namespace and come back in it: the ticker, which reports FAIL
    /// if its counts change, sees the same ones after the restore; so do
    /// the limits the namespace was given (sysctl -w inside it). A
    /// namespaces.json whose objects do not hold together is refused,
    /// naming the field.
    func testAnIPCNamespaceKeepsObjectsNobodyMaps() throws {
        let program = try startTicker("held", wrapper: [
            "/usr/bin/unshare", "--ipc", "/bin/sh", "-c",
            "echo 1048576 > /proc/sys/kernel/shmmax && echo 20 > /proc/sys/fs/mqueue/msg_max && ipcmk -M 8192 >/dev/null && ipcmk -Q >/dev/null && ipcmk -S 3 >/dev/null && exec \"$0\" \"$@\"",
        ])
        defer { try? stopTree(program.pid) }
        try program.waitFor("held tick", atLeast: 1)
        XCTAssertTrue(program.log.lines().contains { $0.hasPrefix("held tick") && $0.hasSuffix("shm 1 sem 1 msg 1") }, "\(program.log.lines().suffix(3))")
        let hostSegments = try SysVIPC.list(.sharedMemory).map(\.id)

        let image = try checkpoint(program)
        let namespaces = try ImageDirectory.open(at: image).readJSON([NamespaceImage].self, from: NamespaceImage.listFile)
        let objects = try XCTUnwrap(namespaces.first { $0.kind == .ipc }?.sysvIPC, "\(namespaces)")
        XCTAssertEqual(objects.sharedMemory.map(\.size), [8192])
        XCTAssertEqual(objects.semaphoreSets.map(\.values.count), [3])
        XCTAssertEqual(objects.messageQueues.count, 1)
        let sysctls = ["kernel/shmmax": "1048576", "fs/mqueue/msg_max": "20"]
        XCTAssertEqual(namespaces.first { $0.kind == .ipc }?.sysctls, sysctls, "the namespace's own limits")
        let pagesFile = try XCTUnwrap(objects.sharedMemory.first?.pagesFile)
        for (edit, field) in [(("\"ipc\"", "\"uts\""), "[0].sysvIPC"), (("\"\(pagesFile)\"", "\"gone.img\""), "[0].sysvIPC.sharedMemory[0].pagesFile")] {
            let copy = try editedCopy(of: image, file: NamespaceImage.listFile, replacing: edit.0, with: edit.1)
            try assertRestoreRefused(copy, pid: program.pid, mentioning: [NamespaceImage.listFile, field])
        }

        let mark = program.lineCount
        try restore(image, as: program)
        try program.waitFor("held tick", atLeast: (program.numbers("held tick").last ?? 0) + 3, from: mark)
        assertSequence(program, "held tick")
        for line in program.log.lines().dropFirst(mark) where line.hasPrefix("held tick") {
            XCTAssertTrue(line.hasSuffix("shm 1 sem 1 msg 1"), "after the restore: \(line)")
        }
        XCTAssertEqual(try SysVIPC.list(.sharedMemory).map(\.id), hostSegments, "crtool's namespace gained or lost segments")
        XCTAssertEqual(try NamespaceEntry.run(in: .ipc, of: program.pid) { NamespaceSysctls.read(Array(sysctls.keys)) }, sysctls)
        XCTAssertNotEqual(NamespaceSysctls.read(["kernel/shmmax"]), ["kernel/shmmax": "1048576"], "crtool's own namespace was set")
    }

    func testAThreadInAnotherUTSNamespaceThanItsProcessIsRefused() throws {
        let code = """
            import ctypes, os, threading, time
            def apart():
                assert ctypes.CDLL(None, use_errno=True).unshare(0x04000000) == 0
                os.write(1, f"apart {threading.get_native_id()}\\n".encode())
                time.sleep(600)
            threading.Thread(target=apart, daemon=True).start()
            time.sleep(0.2)
            os.write(1, b"ready\\n")
            time.sleep(600)
            """
        let program = try startProgram("apart", "/usr/bin/python3", ["-c", code])
        defer { try? stopTree(program.pid) }
        let tid = try XCTUnwrap(program.numbers("apart").first)
        try assertDumpRefused(program, mentioning: ["thread \(tid) of pid \(program.pid) is in another UTS namespace"], namingAnFd: false)
    }

    /// A ticker in a UTS namespace of its own with these names, once it
    /// has ticked `ticks` times.
    private func startTicker(_ tag: String, hostname: String, domainname: String = "(none)", ticks: Int = 1) throws -> Fixture {
        let program = try startTicker(tag, wrapper: [
            "/usr/bin/unshare", "--uts", "/bin/sh", "-c",
            "echo \(hostname) > /proc/sys/kernel/hostname && echo '\(domainname)' > /proc/sys/kernel/domainname && exec \"$0\" \"$@\"",
        ])
        try program.waitFor("\(tag) tick", atLeast: ticks)
        return program
    }

    private func startTicker(_ tag: String, wrapper: [String]) throws -> Fixture {
        let python = try BuildProducts.requirePython3()
        return try startProgram(tag, wrapper[0], Array(wrapper.dropFirst()) + [python, ticker, tag]) { $0 == "\(tag) ready" }
    }

    /// Each ticker of the tree by its tag (its last argument).
    private func taggedPids(under root: pid_t) throws -> [String: pid_t] {
        var found: [String: pid_t] = [:]
        for pid in ProcessTable.descendants(of: root) {
            let arguments = (readTextFile("/proc/\(pid)/cmdline") ?? "").split(separator: "\0").map(String.init)
            if arguments.count == 3, arguments[1] == ticker { found[arguments[2]] = pid }
        }
        return found
    }
}
