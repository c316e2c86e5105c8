import Foundation
import Glibc
import Ptrace
import XCTest

/// What the workload scenarios share: a whole tree checkpointed and every
/// process of it gone before the restore, a whole tree stopped at the end,
/// and a look into the image to show it really held data in flight.
extension EndToEndCase {
    /// Dumps the tree under `root`. The dump kills the tree; this returns
    /// once every process and zombie the image holds has been reaped and its
    /// PID is free, whoever ended up its parent (orphans pass to this
    /// process, the subreaper). The PIDs come from the image itself, so a
    /// process forked just before the freeze is waited for too.
    func checkpointTree(_ root: Fixture, options: [String] = [], timeout: Double = 60) throws -> (image: String, pids: [pid_t]) {
        let image = try checkpoint(root, options: options, timeout: timeout)
        let pids = try ImageContents(directory: image).pids()
        try reapAll(pids)
        return (image, pids)
    }

    /// Waits until each PID is free, reaping those that are (or become)
    /// children of this process.
    func reapAll(_ pids: [pid_t], timeout: Double = 10) throws {
        let me = getpid()
        let done = poll(timeout: timeout, every: 0.005) {
            for pid in pids where ProcessTable.stat(pid)?.ppid == me {
                var status: Int32 = 0
                waitpid(pid, &status, WNOHANG)
            }
            return pids.allSatisfy { ProcessTable.isFree($0) }
        }
        guard done else {
            let taken = pids.filter { !ProcessTable.isFree($0) }.map { pid in
                "\(pid) (" + (ProcessTable.stat(pid).map { "state \($0.state), parent \($0.ppid)" } ?? "?") + ")"
            }
            throw HarnessError("still taken \(timeout) s after the dump: \(taken.joined(separator: ", "))")
        }
    }

    /// Stops the whole tree under `root` (and `others`) at once, so that no
    /// process sees another one die and reports it, then kills and reaps
    /// every one of them. Only processes below this one are touched, so a
    /// PID reaped already and taken by some other process is left alone.
    func stopTree(_ root: pid_t, others: [pid_t] = []) throws {
        let mine = Set(ProcessTable.descendants(of: getpid()))
        let pids = Set([root] + ProcessTable.descendants(of: root) + others).filter { mine.contains($0) }.sorted()
        for pid in pids { Glibc.kill(pid, SIGSTOP) }
        for pid in pids { Glibc.kill(pid, SIGKILL) }
        try reapAll(pids)
    }

    /// The first "tick <n>" line after `mark` counts on from the last one
    /// before it: the program's clock went on where it stopped. Returns
    /// that last tick before the dump.
    @discardableResult
    func assertNextTick(_ program: Fixture, after mark: Int, file: StaticString = #filePath, line: UInt = #line) throws -> Int {
        let last = try XCTUnwrap(program.numbers("tick", before: mark).last, file: file, line: line)
        let next = try program.waitFor("a tick after the restore", from: mark) { $0.hasPrefix("tick ") }
        XCTAssertEqual(LogLines.number(in: next.line, after: "tick"), last + 1, "the next tick", file: file, line: line)
        return last
    }

    /// Starts a real program (an interpreter, a server) with its stdout and
    /// stderr in the scratch directory, and returns once a line of its
    /// stdout satisfies `isReady` (nil: at once).
    func startProgram(
        _ name: String, _ executable: String, _ arguments: [String],
        readyTimeout: Double = 30, isReady: ((String) -> Bool)? = { $0 == "ready" }
    ) throws -> Fixture {
        let stdout = scratch.newPath("\(name).stdout")
        let stderr = scratch.newPath("\(name).stderr")
        let pid = try spawnProcess(executable, arguments, stdout: stdout, stderr: stderr)
        let program = Fixture(name: name, pid: pid, log: LogFile(path: stdout), stderrPath: stderr)
        if let isReady {
            try program.waitFor("ready", timeout: readyTimeout, where: isReady)
        }
        return program
    }

    /// Stops a restored server the way its users do (`signal`) and checks
    /// that it ends with status 0 within `timeout`; `log` is what it wrote,
    /// for the messages.
    func assertStopsCleanly(_ program: Fixture, on signal: Int32, within timeout: Double, log: () -> String,
                            file: StaticString = #filePath, line: UInt = #line) throws {
        try program.signal(signal)
        guard let status = try waitForExit(program.pid, timeout: timeout) else {
            throw HarnessError("\(program.name) (pid \(program.pid)) did not stop within \(Int(timeout)) s of \(SignalNames.name(signal))\n\(log())")
        }
        XCTAssertEqual(status, .exited(0), "\(program.name)'s exit after \(SignalNames.name(signal))\n\(log())", file: file, line: line)
    }

    /// A new scratch directory that other users (a server's workers, which
    /// drop root) can enter and read, and the scratch root above it too.
    func openScratchDirectory(_ name: String) throws -> String {
        chmod(scratch.path, 0o755)
        let dir = try scratch.newDirectory(name)
        chmod(dir, 0o755)
        return dir
    }

    /// Fails, naming what to install, when a program a scenario runs is
    /// not there.
    func requirePrograms(_ paths: String..., from packages: String) throws {
        let missing = paths.filter { access($0, X_OK) != 0 }
        guard missing.isEmpty else {
            throw HarnessError("\(missing.joined(separator: " and ")) \(missing.count == 1 ? "is" : "are") missing: install \(packages) (scripts/install-deps.sh does)")
        }
    }

    /// Starts python3 running `program` (with `arguments` in sys.argv),
    /// as `startProgram` starts any program. -E keeps PYTHONUNBUFFERED out
    /// of it: unbuffered, print writes each argument and the newline with
    /// a write of its own, and the lines of a parent and its child sharing
    /// stdout interleave ("childpipe event  12"); buffered, each
    /// print(..., flush=True) is one write of the whole line.
    func startPython(_ name: String, _ program: String, _ arguments: [String] = []) throws -> Fixture {
        guard let python = BuildProducts.python3 else {
            throw HarnessError("this test needs python3: apt-get install python3 (scripts/install-deps.sh installs it)")
        }
        return try startProgram(name, python, ["-E", "-c", program] + arguments)
    }

    /// The identities of the tree under `root`, PIDs and all.
    func treeIdentity(_ root: pid_t) -> [ProcessIdentity] {
        ProcessIdentity.tree(root)
    }
}

/// A read-only look at an image's JSON, for what the tests want to show
/// about it (which processes it holds, how many bytes were in flight),
/// without depending on crtool's Swift types.
struct ImageContents {
    let directory: String

    private func json(_ name: String) throws -> Any {
        let path = directory + "/" + name
        guard let bytes = readWholeFile(path) else { throw HarnessError("cannot read \(path)") }
        return try JSONSerialization.jsonObject(with: Data(bytes))
    }

    /// Every process and zombie the image holds.
    func pids() throws -> [pid_t] {
        guard let manifest = try json("manifest.json") as? [String: Any],
              let processes = manifest["processes"] as? [[String: Any]] else {
            throw HarnessError("\(directory)/manifest.json has no \"processes\" list")
        }
        var pids = processes.compactMap { ($0["pid"] as? NSNumber)?.int32Value }
        if fileExists(directory + "/zombies.json"), let zombies = try json("zombies.json") as? [[String: Any]] {
            pids += zombies.compactMap { ($0["pid"] as? NSNumber)?.int32Value }
        }
        return pids
    }

    /// The command name of every process the image holds.
    func commands() throws -> [String] {
        guard let manifest = try json("manifest.json") as? [String: Any],
              let processes = manifest["processes"] as? [[String: Any]] else {
            throw HarnessError("\(directory)/manifest.json has no \"processes\" list")
        }
        return processes.compactMap { $0["command"] as? String }
    }

    /// The open files of every process, as JSON objects.
    func files() throws -> [[String: Any]] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasPrefix("process-") && $0.hasSuffix(".json") }
        return try names.flatMap { name -> [[String: Any]] in
            guard let process = try json(name) as? [String: Any] else { return [] }
            return process["files"] as? [[String: Any]] ?? []
        }
    }

    /// Bytes buffered in pipes and FIFOs, each pipe counted once.
    func pipeBytes() throws -> Int {
        var byInode: [Int: Int] = [:]
        for file in try files() {
            guard let encoded = (file["pipe"] as? [String: Any])?["data"] as? String,
                  let data = Data(base64Encoded: encoded) else { continue }
            byInode[(file["inode"] as? NSNumber)?.intValue ?? 0] = data.count
        }
        return byInode.values.reduce(0, +)
    }

    /// Bytes queued in unix sockets (stream bytes or datagram payloads),
    /// keyed by the inode of the receiving socket, each socket once.
    func unixSocketQueues() throws -> [Int: Int] {
        var byInode: [Int: Int] = [:]
        for file in try files() {
            guard let state = file["unixSocket"] as? [String: Any] else { continue }
            for key in ["socket", "peer"] {
                guard let end = state[key] as? [String: Any], let inode = (end["inode"] as? NSNumber)?.intValue else { continue }
                let queue = (end["queue"] as? [String]) ?? []
                byInode[inode] = queue.reduce(0) { $0 + (Data(base64Encoded: $1)?.count ?? 0) }
            }
        }
        return byInode
    }
}

/// A client connection made by the test itself, outside the restored
/// tree: unix stream sockets by path and TCP on 127.0.0.1.
struct TestSocket {
    let fd: Int32

    static func unix(_ path: String) throws -> TestSocket {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: \(errnoText())") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            Glibc.close(fd)
            throw HarnessError("socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard rc == 0 else {
            let reason = errnoText()
            Glibc.close(fd)
            throw HarnessError("connect to \(path): \(reason)")
        }
        return TestSocket(fd: fd)
    }

    static func tcp(port: UInt16) throws -> TestSocket {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: \(errnoText())") }
        var address = loopback(port: port)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            let reason = errnoText()
            Glibc.close(fd)
            throw HarnessError("connect to 127.0.0.1:\(port): \(reason)")
        }
        return TestSocket(fd: fd)
    }

    static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        return address
    }

    /// A TCP port on 127.0.0.1 that nothing listens on right now.
    static func freeLoopbackPort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: \(errnoText())") }
        defer { Glibc.close(fd) }
        var address = loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let rc = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p -> Int32 in
                guard bind(fd, p, length) == 0 else { return -1 }
                return getsockname(fd, p, &length)
            }
        }
        guard rc == 0 else { throw HarnessError("picking a port: \(errnoText())") }
        return UInt16(bigEndian: address.sin_port)
    }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw HarnessError("send: \(errnoText())") }
            offset += n
        }
    }

    /// Reads until `count` bytes arrived, or end of file, within `timeout`.
    func receive(atMost count: Int = 1 << 20, untilEOF: Bool, timeout: Double) throws -> [UInt8] {
        var received: [UInt8] = []
        let deadline = monotonicSeconds() + timeout
        var buffer = [UInt8](repeating: 0, count: 65536)
        while received.count < count {
            let left = deadline - monotonicSeconds()
            guard left > 0 else {
                if untilEOF { throw HarnessError("no end of file within \(timeout) s; got \(received.count) bytes: \(String(decoding: received, as: UTF8.self).debugDescription)") }
                throw HarnessError("got \(received.count) of \(count) bytes within \(timeout) s")
            }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = Glibc.poll(&p, 1, Int32(max(1, left * 1000)))
            if ready < 0 && errno == EINTR { continue }
            guard ready >= 0 else { throw HarnessError("poll: \(errnoText())") }
            if ready == 0 { continue }
            let want = min(buffer.count, count - received.count)
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, want, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw HarnessError("recv: \(errnoText())") }
            if n == 0 {
                if untilEOF { return received }
                throw HarnessError("end of file after \(received.count) of \(count) bytes")
            }
            received += buffer[0..<n]
        }
        return received
    }

    func close() {
        Glibc.close(fd)
    }
}

/// One HTTP/1.0 GET on 127.0.0.1 (the server closes the connection after
/// it): the body of its answer, which must be 200.
func httpGet(port: UInt16, path: String) throws -> String {
    let socket = try TestSocket.tcp(port: port)
    defer { socket.close() }
    try socket.send(Array("GET \(path) HTTP/1.0\r\nHost: localhost\r\n\r\n".utf8))
    let response = String(decoding: try socket.receive(untilEOF: true, timeout: 5), as: UTF8.self)
    guard response.hasPrefix("HTTP/1.1 200") || response.hasPrefix("HTTP/1.0 200"), let split = response.range(of: "\r\n\r\n") else {
        throw HarnessError("GET \(path) on 127.0.0.1:\(port): \(response.debugDescription)")
    }
    return String(response[split.upperBound...])
}

/// crtool checkpoints listening TCP sockets, not connections: wait until
/// no descriptor holds a connection to the port (sockets closed by both
/// sides may linger in the kernel without one: inode 0).
func waitUntilNoTCPConnection(port: UInt16) throws {
    let hexPort = String(format: ":%04X", port)
    var open: [String] = []
    let done = poll(timeout: 5, every: 0.01) {
        open = (readTextFile("/proc/net/tcp") ?? "").split(separator: "\n").dropFirst().compactMap { row in
            let f = row.split(separator: " ")
            guard f.count > 9, f[1].hasSuffix(hexPort) || f[2].hasSuffix(hexPort) else { return nil }
            return f[3] != "0A" && f[9] != "0" ? String(row) : nil
        }
        return open.isEmpty
    }
    if !done { throw HarnessError("connections to port \(port) still open:\n\(open.joined(separator: "\n"))") }
}

/// n in a progress line "<role> at <n>"; -1 for any other line.
func progress(in line: String, of role: String) -> Int {
    guard line.hasPrefix(role + " at ") else { return -1 }
    return Int(line.dropFirst(role.count + 4)) ?? -1
}

/// The numbers of every "<role> at <n>" line of a log, in order.
func progressCounts(_ fixture: Fixture, of role: String) -> [Int] {
    fixture.log.lines().map { progress(in: $0, of: role) }.filter { $0 >= 0 }
}
