import Glibc
import Ptrace
import XCTest

/// Daemons from Debian's packages that most hosts run, each restored and
/// then asked to do its job by a client that connects afterwards (and an
/// ssh session that was open through the dump):
/// sshd (a TCP listener, its host key in memory) must hand out the same
/// host key; dnsmasq (UDP and TCP listeners, a netlink socket watching
/// the interfaces) must answer a DNS query from its configuration.
final class DaemonScenarioTests: EndToEndCase {
    func testSSHDServesItsHostKeyAfterTheRestore() throws {
        let sshd = "/usr/sbin/sshd", keygen = "/usr/bin/ssh-keygen", keyscan = "/usr/bin/ssh-keyscan"
        try requirePrograms(sshd, keygen, keyscan, from: "Debian's openssh-server")
        let (daemon, dir, port) = try startSSHD()
        defer { try? stopTree(daemon.pid) }
        func hostKey() throws -> String {
            let scan = try runCommand(keyscan, ["-t", "ed25519", "-p", "\(port)", "127.0.0.1"], outputPrefix: scratch.newPath("keyscan"), timeout: 30)
            return scan.stdoutLines.first { $0.contains("ssh-ed25519") }?.split(separator: " ").last.map(String.init) ?? ""
        }
        var before = ""
        XCTAssertTrue(try poll(timeout: 15, every: 0.1) { before = try hostKey(); return !before.isEmpty }, "sshd never answered")
        let published = try XCTUnwrap(readTextFile(dir + "/host_key.pub")?.split(separator: " ").dropFirst().first.map(String.init))
        XCTAssertEqual(before, published)
        // Each connection had a child of its own, with an established TCP
        // connection; the dump is of the listener alone.
        XCTAssertTrue(poll(timeout: 15, every: 0.05) { ProcessTable.descendants(of: daemon.pid).isEmpty }, "the connection's child is gone")

        _ = try roundTrip(daemon)
        XCTAssertEqual(try hostKey(), published, "the restored sshd hands out its host key")
    }

    /// An ssh session in the middle of its remote command: sshd, the
    /// session's privilege-separated child with its established
    /// connection, the shell and its sleep are dumped with
    /// --tcp-established, killed and restored. The client, outside the
    /// image, never notices: its command's numbers come in order without
    /// a gap or a repeat (the cipher state lives in memory on both ends),
    /// and the session ends with the command's status.
    func testSSHSessionCarriesOnAcrossTheRestore() throws {
        let sshd = "/usr/sbin/sshd", keygen = "/usr/bin/ssh-keygen", ssh = "/usr/bin/ssh"
        try requirePrograms(sshd, keygen, ssh, from: "Debian's openssh-server and openssh-client")
        // StrictModes no: the keys sit under /tmp, which anyone may write.
        let (daemon, dir, port) = try startSSHD(keys: ["user_key"]) { dir in
            ["AuthorizedKeysFile \(dir)/user_key.pub", "StrictModes no", "PermitRootLogin prohibit-password"]
        }
        defer { try? stopTree(daemon.pid) }
        XCTAssertTrue(poll(timeout: 15, every: 0.05) { (try? TestSocket.tcp(port: port))?.close() != nil }, "sshd never listened")
        let client = try startProgram("ssh", ssh, [
            "-i", dir + "/user_key", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-p", "\(port)", "root@127.0.0.1",
            "i=0; while [ $i -lt 80 ]; do i=$((i+1)); echo session $i; sleep 0.05; done; exit 7",
        ], isReady: { $0 == "session 10" })
        defer { try? stopTree(client.pid) }

        let (image, pids) = try checkpointTree(daemon, options: ["--tcp-established"])
        XCTAssertGreaterThanOrEqual(pids.count, 3, "sshd, the session's child and the shell")
        try restore(image, as: daemon)
        XCTAssertEqual(try waitForExit(client.pid, timeout: 30), .exited(7), "the session ends with its command's status\n\(client.log.tail())\(client.stderrTail())")
        XCTAssertEqual(client.numbers("session"), Array(1...80), client.log.tail())
    }

    /// sshd on a free loopback port, with a host key (and `keys`) made in
    /// a scratch directory, and the lines `config` gives for that
    /// directory added to its settings.
    private func startSSHD(keys: [String] = [], config: (String) -> [String] = { _ in [] }) throws -> (daemon: Fixture, dir: String, port: UInt16) {
        let dir = try scratch.newDirectory("sshd")
        for key in ["host_key"] + keys {
            let made = try runCommand("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", dir + "/" + key],
                                      outputPrefix: scratch.newPath("keygen"), timeout: 30)
            XCTAssertTrue(made.succeeded, "\(made)")
        }
        _ = mkdir("/run/sshd", 0o755) // its privilege-separation directory
        let port = try TestSocket.freeLoopbackPort()
        let settings = ["Port \(port)", "ListenAddress 127.0.0.1", "HostKey \(dir)/host_key", "PidFile \(dir)/sshd.pid", "UsePAM no"] + config(dir)
        try writeWholeFile(dir + "/config", Array((settings.joined(separator: "\n") + "\n").utf8))
        let daemon = try startProgram("sshd", "/usr/sbin/sshd", ["-D", "-f", dir + "/config", "-E", dir + "/log"], isReady: nil)
        return (daemon, dir, port)
    }

    /// dnsmasq answering for crtool.test on a port of its own, listening on
    /// 127.0.0.1: with bind-interfaces its socket is bound there, without
    /// it to every address, and it tells where each query was sent by
    /// IP_PKTINFO.
    private func startDnsmasq(bindsInterfaces: Bool) throws -> (daemon: Fixture, port: UInt16) {
        let dnsmasq = "/usr/sbin/dnsmasq"
        try requirePrograms(dnsmasq, from: "Debian's dnsmasq-base")
        let dir = try scratch.newDirectory("dnsmasq")
        let port = try TestSocket.freeLoopbackPort()
        try writeWholeFile(dir + "/config", Array("""
            port=\(port)
            listen-address=127.0.0.1
            \(bindsInterfaces ? "bind-interfaces" : "")
            no-resolv
            no-hosts
            address=/crtool.test/10.1.2.3
            pid-file=\(dir)/dnsmasq.pid

            """.utf8))
        return (try startProgram("dnsmasq", dnsmasq, ["-k", "-C", dir + "/config", "-u", "root"], isReady: nil), port)
    }

    /// A query for crtool.test with `id`.
    private func question(id: UInt16) -> [UInt8] {
        [UInt8(id >> 8), UInt8(id & 0xff), 1, 0, 0, 1, 0, 0, 0, 0, 0, 0] + [6] + Array("crtool".utf8) + [4] + Array("test".utf8) + [0, 0, 1, 0, 1]
    }

    func testDnsmasqAnswersFromItsConfigurationAfterTheRestore() throws {
        let (daemon, port) = try startDnsmasq(bindsInterfaces: true)
        defer { try? stopTree(daemon.pid) }
        let query = try startPython("dns-query", """
            import socket, struct, sys, time
            question = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"\\x06crtool\\x04test\\x00" + struct.pack(">HH", 1, 1)
            print("ready", flush=True)
            while True:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.settimeout(1)
                try:
                    s.sendto(question, ("127.0.0.1", int(sys.argv[1])))
                    answer = s.recv(512)
                    print("answer", ".".join(str(b) for b in answer[-4:]), flush=True)
                except OSError as e:
                    print("no answer", e, flush=True)
                s.close()
                time.sleep(0.1)
            """, [String(port)])
        defer { try? stopTree(query.pid) }
        try query.waitFor(line: "answer 10.1.2.3", timeout: 15)
        _ = try roundTrip(daemon)
        try query.waitFor(line: "answer 10.1.2.3", from: query.lineCount, timeout: 15)
    }

    /// Queries sent to dnsmasq stopped (^Z) wait in its socket's queue at
    /// the dump; the restored dnsmasq answers each once, from the address
    /// it was asked at.
    func testDnsmasqAnswersTheQueriesQueuedAtTheDump() throws {
        let (daemon, port) = try startDnsmasq(bindsInterfaces: false)
        defer { try? stopTree(daemon.pid) }
        let client = try Sockets.create(family: AF_INET, type: Int32(SOCK_DGRAM.rawValue))
        defer { close(client) }
        try Sockets.bind(client, .inet4(address: [127, 0, 0, 1], port: 0))
        XCTAssertEqual(Sockets.connect(client, .inet4(address: [127, 0, 0, 1], port: port)), 0)
        func answers(_ count: Int) throws -> [UInt16] {
            var ids: [UInt16] = []
            for _ in 0..<count where Sockets.isReadable(client, within: 10_000) {
                let answer = try Sockets.receive(client, count: 512)
                XCTAssertEqual(Array(answer.suffix(4)), [10, 1, 2, 3], "an answer from the configuration")
                ids.append(UInt16(answer[0]) << 8 | UInt16(answer[1]))
            }
            return ids
        }
        // Answered once it runs (until its socket is made, a query is
        // refused, and the refusal read as an error).
        XCTAssertTrue(poll(timeout: 15, every: 0.2) {
            _ = Sockets.send(client, self.question(id: 1), flags: 0)
            return Sockets.isReadable(client, within: 200) && (try? Sockets.receive(client, count: 512)) != nil
        }, "dnsmasq never answered: \(daemon.stderrTail())")
        while Sockets.isReadable(client, within: 300) { _ = try? Sockets.receive(client, count: 512) }

        XCTAssertEqual(kill(daemon.pid, SIGSTOP), 0)
        XCTAssertTrue(poll(timeout: 5) { ProcessTable.isStopped(daemon.pid) })
        for id in UInt16(101)...103 { XCTAssertEqual(try Sockets.send(client, question(id: id), flags: 0).get(), question(id: id).count) }
        let image = try checkpoint(daemon)
        let show = try crtool(["show", image])
        XCTAssertTrue(show.stdout.contains("0.0.0.0:\(port), 3 datagrams queued"), "show counts the queries: \(show)")
        try restore(image, as: daemon)
        XCTAssertEqual(kill(daemon.pid, SIGCONT), 0)
        XCTAssertEqual(try answers(3), [101, 102, 103], "each query answered once, in order")
        XCTAssertFalse(Sockets.isReadable(client, within: 300), "and no more")
    }
}
