import Checkpoint
import Foundation
import Glibc
import Ptrace
import XCTest

/// A UTS and an IPC namespace the tree shares with a process outside it,
/// as a pod's containers share those its pause process holds: the dump
/// refuses them unless they are left out (`--external uts[INODE]:KEY`,
/// `ipc[INODE]:KEY`), and the restore enters the ones given with
/// `--inherit-fd fd[N]:KEY`. The program writes its count into a System V
/// segment the holder made and reads the holder's count from it, with the
/// hostname, on every tick: given the holder's namespaces back, it must
/// see the holder's changes made while it was an image, and the holder its
/// writes; given fresh ones, it finds the segment made again from the
/// image.
final class SharedUTSAndIPCNamespaceTests: EndToEndCase {
    /// Makes the segment (key 0x5151) and the hostname; SIGUSR1 counts in
    /// the segment's second word, SIGUSR2 renames the host.
    private let holderProgram = """
    import ctypes, signal, socket, sys, time
    libc = ctypes.CDLL(None, use_errno=True)
    libc.shmat.restype = ctypes.c_void_p
    socket.sethostname(sys.argv[1])
    shared = (ctypes.c_uint64 * 2).from_address(libc.shmat(libc.shmget(0x5151, 4096, 0o1600), None, 0))
    def bump(*_):
        shared[1] += 1
        print("holder bumped", shared[1], "sees", shared[0], flush=True)
    def rename(*_):
        socket.sethostname(sys.argv[1] + "-renamed")
    signal.signal(signal.SIGUSR1, bump)
    signal.signal(signal.SIGUSR2, rename)
    print("ready", flush=True)
    while True:
        time.sleep(1)
    """

    /// Counts into the segment's first word.
    private let podProgram = """
    import ctypes, socket, time
    libc = ctypes.CDLL(None, use_errno=True)
    libc.shmat.restype = ctypes.c_void_p
    shared = (ctypes.c_uint64 * 2).from_address(libc.shmat(libc.shmget(0x5151, 4096, 0), None, 0))
    print("ready", flush=True)
    n = 0
    while True:
        n += 1
        shared[0] = n
        print("tick", n, socket.gethostname(), shared[1], flush=True)
        time.sleep(0.05)
    """

    func testNamespacesSharedWithAProcessOutsideAreLeftOutAndEnteredAsGiven() throws {
        let python = try BuildProducts.requirePython3()
        let holder = try startProgram("holder", "/usr/bin/unshare", ["--uts", "--ipc", python, "-c", holderProgram, "podhost"])
        defer { try? stopTree(holder.pid) }
        let pod = try startProgram("pod", "/usr/bin/nsenter", ["-t", "\(holder.pid)", "--uts", "--ipc", python, "-c", podProgram])
        defer { try? stopTree(pod.pid) }
        try pod.waitFor("tick", atLeast: 3)
        let uts = try NamespaceKind.uts.id(pid: holder.pid)
        let ipc = try NamespaceKind.ipc.id(pid: holder.pid)
        XCTAssertEqual(try NamespaceKind.ipc.id(pid: pod.pid), ipc)
        XCTAssertEqual(try pod.lastWords("tick").dropFirst(2).first, "podhost")

        try assertDumpRefused(pod, mentioning: ["pid \(holder.pid) (python3) is in the UTS namespace uts:[\(uts)] of pid \(pod.pid) too",
                                                "--external uts[\(uts)]:KEY"], namingAnFd: false)
        try assertDumpRefused(pod, mentioning: ["pid \(holder.pid) (python3) is in the IPC namespace ipc:[\(ipc)] of pid \(pod.pid) too"],
                              namingAnFd: false, options: ["--external", "uts[\(uts)]:pod-uts"])

        let leftOut = ["--external", "uts[\(uts)]:pod-uts", "--external", "ipc[\(ipc)]:pod-ipc"]
        let image = try checkpoint(pod, options: leftOut)
        let saved = try ImageDirectory.open(at: image).readJSON([NamespaceImage].self, from: NamespaceImage.listFile)
        let savedUTS = try XCTUnwrap(saved.first { $0.kind == .uts })
        let savedIPC = try XCTUnwrap(saved.first { $0.kind == .ipc })
        XCTAssertEqual(savedUTS.externalKey, "pod-uts")
        XCTAssertNil(savedUTS.hostname, "the pod's hostname is not the tree's to save")
        XCTAssertEqual(savedIPC.externalKey, "pod-ipc")
        XCTAssertEqual(savedIPC.sysvIPC?.sharedMemory.map(\.key), [0x5151], "the segment the tree maps is saved")
        let shown = try crtool(["show", image])
        XCTAssertTrue(shown.stdout.contains("ipc:[\(ipc)] of the tree's own: left out at the dump: restore --inherit-fd fd[N]:pod-ipc gives the one to enter; "
            + "System V objects taken there as they are, or made again: 1 shared memory segment"), "\(shown)")

        try waitUntilFree(pod.pid)
        try assertRestoreRefused(image, pid: pod.pid, mentioning: ["uts:[\(uts)] was left out at the dump", "--inherit-fd fd[N]:pod-uts",
                                                                   "ipc:[\(ipc)] was left out at the dump"])
        let named = try editedCopy(of: image, file: NamespaceImage.listFile, replacing: "\"externalKey\" : \"pod-uts\"",
                                   with: "\"externalKey\" : \"pod-uts\", \"hostname\" : \"elsewhere\"")
        let index = try XCTUnwrap(saved.firstIndex { $0.kind == .uts })
        try assertRestoreRefused(named, pid: pod.pid, mentioning: [NamespaceImage.listFile, "[\(index)].hostname", "left out at the dump"],
                                 options: ["--inherit-fd", "fd[0]:pod-uts", "--inherit-fd", "fd[0]:pod-ipc"])

        // Meanwhile the pod's other process renames the host and counts on in the segment.
        try holder.signal(SIGUSR2)
        try holder.signal(SIGUSR1)
        try holder.waitFor(line: "holder bumped 1 sees \(try XCTUnwrap(pod.numbers("tick").last))")
        var mark = pod.lineCount
        try restore(image, pid: pod.pid, giving: holder.pid)
        XCTAssertEqual(try NamespaceKind.uts.id(pid: pod.pid), uts)
        XCTAssertEqual(try NamespaceKind.ipc.id(pid: pod.pid), ipc)
        try pod.waitForMore("tick", 3, after: mark)
        XCTAssertEqual(Array(try pod.lastWords("tick").dropFirst(2)), ["podhost-renamed", "1"], "the host's name and the holder's count as they are now")
        try holder.signal(SIGUSR1)
        let seen = try holder.waitFor("holder bumped 2") { $0.hasPrefix("holder bumped 2 sees ") }
        XCTAssertGreaterThan(Int(seen.line.split(separator: " ").last!)!, try XCTUnwrap(pod.numbers("tick", before: mark).last),
                             "the holder sees the restored program's count in the segment they share")
        try pod.waitFor("tick") { $0.hasSuffix(" podhost-renamed 2") }

        // Into fresh namespaces, as on another node: the segment is made
        // from the image; a restore that fails removes it again.
        let fresh = try startProgram("fresh", "/usr/bin/unshare", ["--uts", "--ipc", python, "-c",
                                                                   "import socket, time; socket.sethostname('fresh'); print('ready', flush=True); time.sleep(600)"])
        defer { try? stopTree(fresh.pid) }
        let again = try checkpoint(pod, options: leftOut)
        let giving = givingNamespaces(podNamespaces(of: fresh.pid))
        let failing = try crtool(opening: giving.opening, ["restore", "-D", again, "-d"] + giving.arguments
                                 + ["--action-script", "test \"$CRTOOLS_SCRIPT_ACTION\" != post-restore || exit 3"])
        XCTAssertEqual(failing.status, .exited(1), "\(failing)")
        XCTAssertEqual(try segmentKeys(inIPCNamespaceOf: fresh.pid), [], "the failed restore left the segment it made")
        try waitUntilFree(pod.pid)
        mark = pod.lineCount
        try restore(again, pid: pod.pid, giving: fresh.pid)
        XCTAssertEqual(try NamespaceKind.ipc.id(pid: pod.pid), try NamespaceKind.ipc.id(pid: fresh.pid))
        try pod.waitForMore("tick", 3, after: mark)
        XCTAssertEqual(Array(try pod.lastWords("tick").dropFirst(2)), ["fresh", "2"], "the segment made again holds the holder's count at the dump")
        XCTAssertEqual(try segmentKeys(inIPCNamespaceOf: fresh.pid), ["5151"])
        XCTAssertEqual(try segmentKeys(inIPCNamespaceOf: holder.pid), ["5151"], "the holder's segment is its own again")
        assertSequence(pod, "tick")
    }

    /// An image dumped with namespaces of the tree's own, restored with
    /// `--join-ns` into namespaces that exist (a pod made since): the
    /// program finds the hostname of the one joined, and its segment made
    /// there.
    func testARestoreJoinsNamespacesThatExistInsteadOfMakingTheImages() throws {
        let python = try BuildProducts.requirePython3()
        let own = try startProgram("own", "/usr/bin/unshare", ["--uts", "--ipc", python, "-c", """
            import ctypes, socket, time
            libc = ctypes.CDLL(None, use_errno=True)
            libc.shmat.restype = ctypes.c_void_p
            socket.sethostname("mine")
            shared = (ctypes.c_uint64 * 2).from_address(libc.shmat(libc.shmget(0x6161, 4096, 0o1600), None, 0))
            print("ready", flush=True)
            n = 0
            while True:
                n += 1
                shared[0] = n
                print("tick", n, socket.gethostname(), flush=True)
                time.sleep(0.05)
            """])
        defer { try? stopTree(own.pid) }
        try own.waitFor("tick", atLeast: 3)
        let image = try checkpoint(own)
        let pod = try startProgram("pod", "/usr/bin/unshare", ["--uts", "--ipc", python, "-c",
                                                               "import socket, time; socket.sethostname('joined'); print('ready', flush=True); time.sleep(600)"])
        defer { try? stopTree(pod.pid) }

        try assertRestoreRefused(image, pid: own.pid, mentioning: ["--join-ns net:\(pod.pid): pid \(own.pid) was in crtool's network namespace at the dump"],
                                 options: ["--join-ns", "net:\(pod.pid)"])
        for (text, problem) in [("pid:\(pod.pid)", "crtool joins only net, uts, ipc namespaces"),
                                ("uts:/proc/\(pod.pid)/ns/ipc", "/proc/\(pod.pid)/ns/ipc is not a UTS namespace"),
                                ("uts:\(pod.pid),uid", "give the namespace as a pid or a path, with no further options")] {
            let refused = try crtool(["restore", "-D", image, "-d", "--join-ns", text])
            XCTAssertNotEqual(refused.status, .exited(0), "\(refused)")
            XCTAssertTrue(refused.stderr.contains("--join-ns \(text): \(problem)"), "\(refused)")
            XCTAssertFalse(ProcessTable.isAlive(own.pid), "\(refused)")
        }

        let mark = own.lineCount
        let restored = try crtool(["restore", "-D", image, "-d", "--join-ns", "uts:\(pod.pid)", "--join-ns", "ipc:/proc/\(pod.pid)/ns/ipc"])
        XCTAssertTrue(restored.succeeded, "\(restored)")
        XCTAssertEqual(try NamespaceKind.uts.id(pid: own.pid), try NamespaceKind.uts.id(pid: pod.pid))
        XCTAssertEqual(try NamespaceKind.ipc.id(pid: own.pid), try NamespaceKind.ipc.id(pid: pod.pid))
        try own.waitForMore("tick", 3, after: mark)
        XCTAssertEqual(try own.lastWords("tick").dropFirst(2).first, "joined", "the hostname of the namespace joined, not the image's")
        XCTAssertEqual(try segmentKeys(inIPCNamespaceOf: pod.pid), ["6161"], "the segment made in the namespace joined")
        assertSequence(own, "tick")
    }

    /// The UTS and IPC namespaces of `holder`, for the keys the tests
    /// leave them out with.
    private func podNamespaces(of holder: pid_t) -> [(key: String, path: String)] {
        [("pod-uts", "/proc/\(holder)/ns/uts"), ("pod-ipc", "/proc/\(holder)/ns/ipc")]
    }

    /// Restores `image` with the UTS and IPC namespaces of `holder` given.
    private func restore(_ image: String, pid: pid_t, giving holder: pid_t) throws {
        try restore(image, pid: pid, givingNamespaces: podNamespaces(of: holder))
    }

    /// The keys, in hexadecimal, of the segments in the IPC namespace of `pid`.
    private func segmentKeys(inIPCNamespaceOf pid: pid_t) throws -> [String] {
        try NamespaceEntry.run(in: .ipc, of: pid) {
            try SysVIPC.list(.sharedMemory).map { String(format: "%x", $0.key) }
        }
    }
}
