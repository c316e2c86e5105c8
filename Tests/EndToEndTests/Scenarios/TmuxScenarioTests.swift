import Glibc
import XCTest

/// tmux, where long jobs live: its server (with the shell of a pane and
/// the job that shell runs) is checkpointed while a client is attached in
/// a terminal, with --hold-external. The client stays attached through the
/// dump and the restore, the job counts on without a gap, and what is
/// typed at the client reaches the pane's shell afterwards.
final class TmuxScenarioTests: EndToEndCase {
    func testServerWithAnAttachedClientCarriesOn() throws {
        try requirePrograms("/usr/bin/tmux", "/usr/bin/script", from: "tmux and bsdutils")
        let socket = scratch.newPath("tmux.sock")
        let counter = scratch.newPath("counter")
        let mark = scratch.newPath("typed")
        try tmux(socket, ["-f", "/dev/null", "new-session", "-d", "-s", "work", "-x", "80", "-y", "24",
                          "env TERM=xterm PS1='$ ' bash --norc --noprofile -i"])
        let server = try XCTUnwrap(pid_t(try tmux(socket, ["display-message", "-p", "#{pid}"]).trimmingCharacters(in: .whitespacesAndNewlines)))
        defer { try? stopTree(server) }
        try tmux(socket, ["send-keys", "-t", "work", "while :; do echo $((++i)) >> \(counter); sleep 0.05; done &", "Enter"])

        let terminal = try PseudoTerminal()
        let client = try spawnProcess("/usr/bin/script", ["-qfc", "env TERM=xterm /usr/bin/tmux -S \(socket) attach -t work", "/dev/null"],
                                      stdin: .descriptor(terminal.slave), stdout: scratch.newPath("client.out"),
                                      stderr: scratch.newPath("client.err"))
        terminal.closeSlave()
        defer { try? stopTree(client) }
        XCTAssertTrue(poll(timeout: 15) { ((try? self.tmux(socket, ["list-clients"])) ?? "").contains("work") },
                      "the client attached")
        XCTAssertTrue(poll(timeout: 15) { self.counted(counter).count >= 10 }, "the job counts")

        let dir = try scratch.newDirectory("image")
        let refused = try crtool(["dump", "-t", "\(server)", "-D", try scratch.newDirectory("refused")])
        XCTAssertTrue(!refused.succeeded && refused.stderr.contains("tmux: client") && refused.stderr.contains("--hold-external"), "\(refused)")
        let dumped = try crtool(["dump", "-t", "\(server)", "-D", dir, "--hold-external"])
        XCTAssertTrue(dumped.succeeded, "\(dumped)")
        XCTAssertTrue(dumped.stdout.contains("held by crtool-keeper"), dumped.stdout)
        try reapAll(try ImageContents(directory: dir).pids())
        let before = counted(counter).count
        usleep(300_000)
        XCTAssertEqual(counted(counter).count, before, "the job waits while the server is an image")
        XCTAssertTrue(ProcessTable.isAlive(client), "the client waits for its server instead of leaving")

        let restored = try crtool(["restore", "-D", dir, "-d"])
        XCTAssertTrue(restored.succeeded, "\(restored)")
        XCTAssertTrue(poll(timeout: 15) { self.counted(counter).count >= before + 20 }, "the job counts on")
        XCTAssertNil(LogLines.breakInSequence(counted(counter), startingAt: 1), "every number once, in order")
        XCTAssertTrue(try tmux(socket, ["list-clients"]).contains("work"), "the same client is still attached")

        try terminal.send("echo typed-at-the-client > \(mark)\r")
        XCTAssertTrue(poll(timeout: 15) { readTextFile(mark) == "typed-at-the-client\n" }, "keys typed at the client reach the pane's shell")

        try tmux(socket, ["kill-server"])
        XCTAssertNotNil(try waitForExit(client, timeout: 15), "the client leaves when its server is told to stop")
    }
}
