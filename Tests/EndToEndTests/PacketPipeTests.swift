import Foundation
import Glibc
import Ptrace
import XCTest

/// Pipes in packet mode (pipe2 with O_DIRECT): each write of a page at
/// most is a packet, each read takes one packet whole and drops what of
/// it does not fit. The program reads only once the restore is done, so
/// every boundary it sees is one the restored pipe kept.
final class PacketPipeTests: EndToEndCase {
    /// Packets of 10, 4096, 5000 (which the kernel cuts into 4096 and 904),
    /// 1, 300 and 7 bytes, each of its own letter.
    static let program = """
        import fcntl, os, sys, time
        r, w = os.pipe2(os.O_DIRECT)
        for i, n in enumerate([10, 4096, 5000, 1, 300, 7]):
            os.write(w, bytes([65 + i]) * n)
        print("ready", flush=True)
        while not os.path.exists(sys.argv[1]):
            time.sleep(0.05)
        print("modes", fcntl.fcntl(r, fcntl.F_GETFL) & os.O_DIRECT != 0, fcntl.fcntl(w, fcntl.F_GETFL) & os.O_DIRECT != 0, flush=True)
        first = os.read(r, 3)
        print("read", len(first), chr(first[0]), len(set(first)), flush=True)
        os.set_blocking(r, False)
        def read_all(word):
            while True:
                try:
                    got = os.read(r, 65536)
                except BlockingIOError:
                    return
                print(word, len(got), chr(got[0]), len(set(got)), flush=True)
        read_all("read")
        os.write(w, b"x" * 20)
        os.write(w, b"y" * 30)
        read_all("again")
        print("done", flush=True)
        time.sleep(600)
        """

    func testPacketsComeBackWholeAndInOrderAfterRestore() throws {
        let flag = scratch.newPath("go")
        let program = try startPython("packetpipe", Self.program, [flag])
        defer { try? stopTree(program.pid) }

        // The dump that lets it run copies the packets and leaves them:
        // the second dump finds them all again.
        let running = try checkpoint(program, options: ["--leave-running"])
        let image = try checkpoint(program)
        for dir in [running, image] {
            XCTAssertEqual(try savedPackets(in: dir, pid: program.pid), [10, 4096, 4096, 904, 1, 300, 7], dir)
        }
        XCTAssertEqual(readTextFile(image + "/manifest.json")?.contains("\"formatVersion\" : 10"), true, "older crtool refuses the image")
        let shown = try crtool(["show", image])
        XCTAssertTrue(shown.stdout.contains("9414 bytes buffered in 7 packets"), shown.stdout)

        let mark = program.lineCount
        try restore(image, as: program)
        try writeWholeFile(flag, [])
        _ = try program.waitFor(line: "done", from: mark, timeout: 30)
        let lines = Array(program.log.lines()[mark...])
        XCTAssertEqual(lines, [
            // pipe2 puts the write end alone in packet mode.
            "modes False True",
            // A read of 3 bytes takes the whole first packet.
            "read 3 A 1", "read 4096 B 1", "read 4096 C 1", "read 904 C 1", "read 1 D 1", "read 300 E 1", "read 7 F 1",
            // Writes after the restore are packets still.
            "again 20 x 1", "again 30 y 1", "done",
        ])
    }

    /// A writer that wrote bytes and then went into packet mode: a read
    /// takes the bytes and the packet after them at once, and crtool
    /// cannot tell where the packet starts. The dump is refused and the
    /// program runs on with every byte.
    func testBytesWrittenOutsidePacketModeAreRefused() throws {
        let program = try startPython("mixedpipe", """
            import fcntl, os, time
            r, w = os.pipe()
            os.write(w, b"z" * 5990)
            fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) | os.O_DIRECT)
            os.write(w, b"p" * 10)
            print("fd", r)
            print("ready", flush=True)
            time.sleep(600)
            """)
        defer { try? stopTree(program.pid) }
        let fd = try program.waitFor("fd", atLeast: 0)
        _ = try assertDumpRefused(program, mentioning: ["fd \(fd)", "packet mode (O_DIRECT)", "6000 bytes"])
        XCTAssertEqual(try queuedBytes(pid: program.pid, fd: fd), 6000, "the pipe keeps every byte")
    }

    /// Packet mode on a read end alone changes nothing: the writer writes
    /// bytes, and they come back as bytes, read 50 at a time with none
    /// dropped.
    func testAReaderInPacketModeOfAWriterOfBytesKeepsTheBytes() throws {
        let flag = scratch.newPath("go")
        let program = try startPython("readerpipe", """
            import fcntl, os, sys, time
            r, w = os.pipe()
            fcntl.fcntl(r, fcntl.F_SETFL, fcntl.fcntl(r, fcntl.F_GETFL) | os.O_DIRECT | os.O_NONBLOCK)
            for letter in b"abc":
                os.write(w, bytes([letter]) * 100)
            print("ready", flush=True)
            while not os.path.exists(sys.argv[1]):
                time.sleep(0.05)
            got = b""
            try:
                while True:
                    got += os.read(r, 50)
            except BlockingIOError:
                pass
            print("total", len(got), got == b"a" * 100 + b"b" * 100 + b"c" * 100, flush=True)
            time.sleep(600)
            """, [flag])
        defer { try? stopTree(program.pid) }
        let image = try checkpoint(program)
        XCTAssertNil(try savedPackets(in: image, pid: program.pid), "saved as bytes")
        let mark = program.lineCount
        try restore(image, as: program)
        try writeWholeFile(flag, [])
        _ = try program.waitFor(line: "total 300 True", from: mark, timeout: 30)
    }

    /// An image whose packets do not fit the pipe is refused by field
    /// before anything is made.
    func testPacketsThePipeCannotHoldAreRefused() throws {
        let program = try startPython("packetpipe", Self.program, [scratch.newPath("never")])
        defer { try? stopTree(program.pid) }
        let image = try checkpoint(program)
        let edited = try editedCopy(of: image, file: "process-\(program.pid).json",
                                    replacing: "\"capacity\" : 65536", with: "\"capacity\" : 16384")
        try assertRestoreRefused(edited, pid: program.pid, mentioning: ["pipe.packets", "7 packets in a pipe of 16384 bytes"])
    }

    /// Each packet's length, in order, of the first pipe of `pid` in the
    /// image at `directory` that holds packets (nil: none does).
    private func savedPackets(in directory: String, pid: pid_t) throws -> [Int]? {
        let path = try ImageFiles(directory: directory, pid: pid).processFile()
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(XCTUnwrap(readWholeFile(path)))) as? [String: Any])
        let files = try XCTUnwrap(json["files"] as? [[String: Any]])
        return files.lazy.compactMap { ($0["pipe"] as? [String: Any])?["packets"] as? [Int] }.first
    }

    /// How many bytes the pipe at `fd` of `pid` holds, read through a
    /// description of the test's own.
    private func queuedBytes(pid: pid_t, fd: Int) throws -> Int {
        let own = open("/proc/\(pid)/fd/\(fd)", O_RDONLY | O_NONBLOCK)
        guard own >= 0 else { throw HarnessError("cannot open fd \(fd) of pid \(pid)") }
        defer { close(own) }
        return try PipeOps.queuedBytes(own)
    }
}
