import Foundation
import Glibc
import Ptrace
import XCTest

/// A service's output under systemd goes to the journal through a unix
/// stream socket journald holds the other end of. The stream comes back
/// connected to journald again, with its header (identifier, priority,
/// level prefix) and as the process and user it was: every line reaches
/// the journal once, in order, filed as before.
final class JournalStreamTests: EndToEndCase {
    private static let stdoutSocket = "/run/systemd/journal/stdout"

    func testServiceOutputReachesTheJournalAcrossTheRestore() throws {
        try ensureJournald()
        let ident = "crtool-test-\(getpid())-\(Int(Date().timeIntervalSince1970))"
        // What systemd does for StandardOutput=journal, as user nobody:
        // connect, send the header, stop reading, make it fds 1 and 2.
        let program = try startJournalWriter(ident, """
                print("count %d" % n, flush=True)
                print("<3>error %d" % n, file=sys.stderr, flush=True)
                print("tick %d" % n, file=report)
                time.sleep(0.05)
            """)
        defer { try? killAndReap(program.pid) }
        try program.waitFor("tick", atLeast: 5)

        let (image, mark) = try roundTrip(program)
        let saved = try String(contentsOfFile: try ImageFiles(directory: image, pid: program.pid).processFile(), encoding: .utf8)
        XCTAssertTrue(saved.contains("\"identifier\" : \"\(ident)\""), "the image holds the stream's header")
        let shown = try crtool(["show", image]).stdout
        XCTAssertTrue(shown.contains("fd 1: unixSocket socket:[") && shown.contains("unix stream to the journal (\(Self.stdoutSocket)) as \(ident), priority 6"), shown)
        let last = program.numbers("tick", before: mark).last ?? 0
        try program.waitFor("tick", atLeast: last + 20, from: mark)
        // journald's end knows the stream as the process's own, user nobody.
        let peer = try peerCredentials(ofStreamOf: program.pid)
        XCTAssertEqual(peer.pid, program.pid, "SO_PEERCRED pid journald has")
        XCTAssertEqual([peer.uid, peer.gid], [65534, 65534], "SO_PEERCRED uid and gid journald has")
        try killAndReap(program.pid)

        let entries = try journal(ident, until: last + 20)
        let counts = entries.filter { $0.message.hasPrefix("count ") }
        let errors = entries.filter { $0.message.hasPrefix("error ") }
        XCTAssertEqual(counts.compactMap { Int($0.message.dropFirst(6)) }.sorted(), Array(1...counts.count), "every stdout line once")
        XCTAssertEqual(errors.compactMap { Int($0.message.dropFirst(6)) }.sorted(), Array(1...errors.count), "every stderr line once")
        XCTAssertGreaterThanOrEqual(counts.count, last + 20)
        XCTAssertGreaterThanOrEqual(errors.count, last + 20)
        XCTAssertEqual(entries.count, counts.count + errors.count, "lines as the program wrote them, the <3> prefix taken")
        XCTAssertEqual(Set(entries.map(\.streamID)).count, 2, "one stream before the dump, one after")
        for e in entries {
            XCTAssertEqual(e.priority, e.message.hasPrefix("error") ? "3" : "6", "\(e.message): PRIORITY")
        }
        // The restored stream's lines are the process's, as user nobody.
        // (A journald just started may file a stream's first lines before
        // it knows their sender: the original stream's are not checked.)
        let restored = try XCTUnwrap(entries.first { $0.message == "count \(last + 20)" }?.streamID)
        let after = entries.filter { $0.streamID == restored }
        XCTAssertGreaterThanOrEqual(after.count, 2 * 19)
        for e in after {
            XCTAssertEqual(e.pid, String(program.pid), "\(e.message): _PID")
            XCTAssertEqual(e.uid, "65534", "\(e.message): _UID")
        }
    }

    /// With --hold-external the very stream is kept by crtool-keeper: the
    /// journal has one stream for the whole run, and a line the program
    /// had half written at the dump is still one line.
    func testHeldStreamStaysOneStreamWithNoLineCutInTwo() throws {
        try ensureJournald()
        let ident = "crtool-held-\(getpid())-\(Int(Date().timeIntervalSince1970))"
        // Each line in two writes, so that a dump is likely to come
        // between; the first five whole: journald flushes a half line when
        // the sender's credentials change, which they seem to do once when
        // it takes a new stream (bytes sent before it asked for them).
        let program = try startJournalWriter(ident, """
                if n <= 5:
                    print("warmup %d" % n, flush=True)
                else:
                    sys.stdout.write("count "); sys.stdout.flush()
                    time.sleep(0.02)
                    sys.stdout.write("%d\\n" % n); sys.stdout.flush()
                print("tick %d" % n, file=report)
                time.sleep(0.02)
            """)
        defer { try? killAndReap(program.pid) }
        try program.waitFor("tick", atLeast: 10)

        let (_, mark) = try roundTrip(program, options: ["--hold-external"])
        let last = program.numbers("tick", before: mark).last ?? 0
        try program.waitFor("tick", atLeast: last + 20, from: mark)
        try killAndReap(program.pid)

        // Judged up to "count <last + 20>", well after the dump: the kill
        // that ends the test may itself cut the line being written, and
        // journald then flushes that half line as an entry of its own.
        let all = try journal(ident, until: last + 20)
        let entries = Array(all[...all.firstIndex { $0.message == "count \(last + 20)" }!])
        let counts = entries.compactMap { $0.message.hasPrefix("count ") ? Int($0.message.dropFirst(6)) : nil }
        XCTAssertEqual(counts, Array(6..<(6 + counts.count)), "every line once and in order: \(entries.map(\.message).suffix(30))")
        XCTAssertEqual(counts.count + 5, entries.count, "every line whole: \(entries.map(\.message).suffix(30))")
        XCTAssertEqual(Set(entries.map(\.streamID)).count, 1, "one stream from start to end")
    }

    /// A program whose standard output and error are a stream to the
    /// journal, made as systemd makes one for StandardOutput=journal, as
    /// user nobody: connect, send the header, stop reading, make it fds 1
    /// and 2. It prints "ready" and then runs `loop` (Python, indented for
    /// a `while` body, with `n` counting and `report` its test log).
    private func startJournalWriter(_ ident: String, _ loop: String) throws -> Fixture {
        try startPython("journal-stream", """
            import os, socket, sys, time
            ident = sys.argv[1]
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            s.connect("\(Self.stdoutSocket)")
            s.sendall(("%s\\n\\n6\\n1\\n0\\n0\\n0\\n" % ident).encode())
            s.shutdown(socket.SHUT_RD)
            report = os.fdopen(os.dup(1), "w", buffering=1)
            os.dup2(s.fileno(), 1)
            os.dup2(s.fileno(), 2)
            s.close()
            print("ready", file=report)
            n = 0
            while True:
                n += 1
            \(loop)
            """, [ident])
    }

    private struct Entry {
        var message: String
        var pid: String?
        var uid: String?
        var priority: String?
        var streamID: String?
    }

    /// The journal's lines of `ident`, once "count `count`" is among them.
    private func journal(_ ident: String, until count: Int) throws -> [Entry] {
        let deadline = Date().addingTimeInterval(20)
        while true {
            let result = try runCommand("/usr/bin/journalctl", ["-t", ident, "-o", "json", "--no-pager"],
                                        outputPrefix: scratch.newPath("journalctl"), timeout: 30)
            XCTAssertTrue(result.succeeded, "\(result)")
            let entries = result.stdoutLines.compactMap { line -> Entry? in
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let message = object["MESSAGE"] as? String else { return nil }
                return Entry(message: message, pid: object["_PID"] as? String, uid: object["_UID"] as? String,
                             priority: object["PRIORITY"] as? String, streamID: object["_STREAM_ID"] as? String)
            }
            if entries.contains(where: { $0.message == "count \(count)" }) { return entries }
            guard Date() < deadline else {
                throw HarnessError("the journal has no \"count \(count)\" from \(ident) after 20 s; it has \(entries.count) lines of it")
            }
            usleep(200_000)
        }
    }

    /// SO_PEERCRED of journald's end of the stream `pid` has as fd 1.
    private func peerCredentials(ofStreamOf pid: Int32) throws -> (pid: Int32, uid: UInt32, gid: UInt32) {
        let link = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/1")
        let inode = try XCTUnwrap(UInt64(link.dropFirst("socket:[".count).dropLast()), link)
        let peer = try XCTUnwrap(UnixSocketDiag.query(inode: inode).peer, "fd 1 of \(pid) is not connected")
        for holder in try FileManager.default.contentsOfDirectory(atPath: "/proc").compactMap(Int32.init) {
            guard (try? String(contentsOfFile: "/proc/\(holder)/comm", encoding: .utf8)) == "systemd-journal\n",
                  let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(holder)/fd") else { continue }
            for fd in fds.compactMap(Int32.init)
            where (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(holder)/fd/\(fd)")) == "socket:[\(peer)]" {
                let copy = try PidFD(pid: holder).duplicate(fd)
                defer { close(copy) }
                return try Sockets.peerCredentials(copy)
            }
        }
        throw HarnessError("no journald process holds socket:[\(peer)], the peer of fd 1 of \(pid)")
    }

    /// Uses the journald that listens on its stdout socket, or starts one
    /// (a machine without systemd running, as CI's).
    private func ensureJournald() throws {
        if connects(Self.stdoutSocket) { return }
        let candidates: [String] = ["/usr/lib/systemd/systemd-journald", "/lib/systemd/systemd-journald"]
        let daemon = candidates.first { access($0, X_OK) == 0 }
        guard let daemon else { throw HarnessError("systemd-journald is missing: install systemd (scripts/install-deps.sh does)") }
        try requirePrograms("/usr/bin/journalctl", from: "systemd")
        _ = try startProgram("journald", daemon, [], isReady: nil)
        let deadline = Date().addingTimeInterval(10)
        while !connects(Self.stdoutSocket) {
            guard Date() < deadline else { throw HarnessError("systemd-journald did not listen on \(Self.stdoutSocket) within 10 s") }
            usleep(50_000)
        }
    }

    private func connects(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() where i < raw.count - 1 { raw[i] = b }
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 }
        }
    }
}
