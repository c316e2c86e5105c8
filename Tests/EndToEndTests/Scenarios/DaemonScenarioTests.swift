import Glibc
import XCTest

/// Two daemons from Debian's packages that most hosts run, each restored
/// and then asked to do its job by a client that connects afterwards:
/// sshd (a TCP listener, its host key in memory) must hand out the same
/// host key; dnsmasq (UDP and TCP listeners, a netlink socket watching
/// the interfaces) must answer a DNS query from its configuration.
final class DaemonScenarioTests: EndToEndCase {
    func testSSHDServesItsHostKeyAfterTheRestore() throws {
        let sshd = "/usr/sbin/sshd", keygen = "/usr/bin/ssh-keygen", keyscan = "/usr/bin/ssh-keyscan"
        try requirePrograms(sshd, keygen, keyscan, from: "Debian's openssh-server")
        let dir = try scratch.newDirectory("sshd")
        let made = try runCommand(keygen, ["-q", "-t", "ed25519", "-N", "", "-f", dir + "/host_key"], outputPrefix: scratch.newPath("keygen"), timeout: 30)
        XCTAssertTrue(made.succeeded, "\(made)")
        _ = mkdir("/run/sshd", 0o755) // its privilege-separation directory
        let port = try TestSocket.freeLoopbackPort()
        try writeWholeFile(dir + "/config", Array("""
            Port \(port)
            ListenAddress 127.0.0.1
            HostKey \(dir)/host_key
            PidFile \(dir)/sshd.pid
            UsePAM no

            """.utf8))
        let daemon = try startProgram("sshd", sshd, ["-D", "-f", dir + "/config", "-E", dir + "/log"], isReady: nil)
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

    func testDnsmasqAnswersFromItsConfigurationAfterTheRestore() throws {
        let dnsmasq = "/usr/sbin/dnsmasq"
        try requirePrograms(dnsmasq, from: "Debian's dnsmasq-base")
        let dir = try scratch.newDirectory("dnsmasq")
        let port = try TestSocket.freeLoopbackPort()
        try writeWholeFile(dir + "/config", Array("""
            port=\(port)
            listen-address=127.0.0.1
            bind-interfaces
            no-resolv
            no-hosts
            address=/crtool.test/10.1.2.3
            pid-file=\(dir)/dnsmasq.pid

            """.utf8))
        let daemon = try startProgram("dnsmasq", dnsmasq, ["-k", "-C", dir + "/config", "-u", "root"], isReady: nil)
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
}
