import Foundation
import Glibc
import XCTest

/// Debian's PostgreSQL: a postmaster and its auxiliary processes (each in
/// a session of its own, running as postgres), its buffer pool in shared
/// anonymous memory, a listening TCP socket and a Unix socket, checkpointed
/// idle and restored. The restored postmaster must fork backends for new
/// connections that read what was written before the dump, take writes,
/// have its restored checkpointer flush them (CHECKPOINT), and shut down
/// cleanly on SIGINT; a new postmaster started on the same data directory
/// must then find every row without recovery.
final class PostgresScenarioTests: EndToEndCase {
    /// PostgreSQL 15 starts these five next to the postmaster.
    static let auxiliaryCount = 5

    func testPostgresServesAndKeepsItsDataAfterRestore() throws {
        try servesAndKeepsItsData()
    }

    /// The same with the buffer pool on huge pages (huge_pages=on, as on
    /// hosts tuned for PostgreSQL): shared anonymous memory from the
    /// hugetlb pool, which must come back from the pool.
    func testPostgresOnHugePagesServesAndKeepsItsDataAfterRestore() throws {
        try reserveHugePages(64)
        try servesAndKeepsItsData(settings: ["huge_pages=on"]) { pid in
            let maps = readTextFile("/proc/\(pid)/maps") ?? ""
            XCTAssertTrue(maps.split(separator: "\n").contains { $0.contains(" rw-s ") && $0.hasSuffix("/anon_hugepage (deleted)") },
                          "the postmaster's buffer pool is on huge pages:\n\(maps)")
        }
    }

    private func servesAndKeepsItsData(settings: [String] = [], check: (pid_t) -> Void = { _ in }) throws {
        let (pg, dir) = try newCluster("pg")
        let data = dir + "/data"
        let port = try TestSocket.freeLoopbackPort()
        let server = PostgresServer(installation: pg, data: data, socketDirectory: dir, port: port, settings: settings)

        let master = try server.start(in: self, name: "postgres")
        check(master.pid)
        defer { try? stopTree(master.pid) }
        _ = try server.sql(in: self, "create table t(i int primary key, s text);"
                           + " insert into t select g, md5(g::text) from generate_series(1, 20000) g")
        let summary = "select count(*), sum(i), md5(string_agg(s, '' order by i)) from t"
        let written = try server.sql(in: self, summary)
        let before = try waitForIdleTree(master)

        let (image, pids) = try checkpointTree(master)
        XCTAssertEqual(pids.sorted(), before.map(\.pid).sorted())
        try restore(image, as: master)
        // Sessions included: each auxiliary process leads one of its own.
        XCTAssertEqual(before.filter { $0.pid != master.pid && $0.sid == $0.pid }.count, Self.auxiliaryCount, "sessions before the dump: \(before)")
        XCTAssertEqual(treeIdentity(master.pid), before, "the tree after the restore")
        check(master.pid)

        // A new connection: the restored postmaster forks a backend, which
        // reads the table through the restored shared buffer pool.
        XCTAssertEqual(try server.sql(in: self, summary), written, "the table read after the restore")
        _ = try server.sql(in: self, "insert into t select g, md5(g::text) from generate_series(20001, 25000) g")
        _ = try server.sql(in: self, "checkpoint")
        let grown = try server.sql(in: self, summary)
        XCTAssertTrue(grown.hasPrefix("25000|312512500|"), "after the insert: \(grown)")
        XCTAssertEqual(try server.sql(in: self, "select 1", overTCP: true), "1", "a query over the restored TCP listener")

        // Fast shutdown goes through the postmaster's signal handling, its
        // auxiliary processes and its reaping of them.
        try assertStopsCleanly(master, on: SIGINT, within: 30) { server.log(of: master) }
        try reapAll(pids)
        XCTAssertTrue(server.log(of: master).contains("database system is shut down"), server.log(of: master))

        let second = try server.start(in: self, name: "postgres-again")
        defer { try? stopTree(second.pid) }
        XCTAssertEqual(try server.sql(in: self, summary), grown, "the rows found by a new postmaster")
        XCTAssertFalse(server.log(of: second).contains("not properly shut down"), server.log(of: second))
        try second.signal(SIGINT)
        XCTAssertEqual(try waitForExit(second.pid, timeout: 30), .exited(0))
    }

    /// A psql session outside the tree, connected over TCP, in the middle
    /// of a transaction: its backend holds the transaction, its row locks
    /// and its snapshot, and the connection is all that ties psql to them.
    /// The server is dumped with --tcp-established and restored; on the
    /// same connection the transaction goes on and commits, and only then
    /// do other sessions see its rows.
    func testOpenTransactionOverTCPCommitsAfterTheRestore() throws {
        try openTransactionCommitsAfterTheRestore(overTCP: true, dumpOptions: ["--tcp-established"])
    }

    /// The same over the server's unix socket, psql's usual way in, with
    /// --hold-external: crtool-keeper holds the backend's end of the
    /// connection while the server is an image.
    func testOpenTransactionOverTheUnixSocketCommitsAfterTheRestore() throws {
        try openTransactionCommitsAfterTheRestore(overTCP: false, dumpOptions: ["--hold-external"])
    }

    private func openTransactionCommitsAfterTheRestore(overTCP: Bool, dumpOptions: [String]) throws {
        let (pg, dir) = try newCluster("pg")
        let port = try TestSocket.freeLoopbackPort()
        let server = PostgresServer(installation: pg, data: dir + "/data", socketDirectory: dir, port: port)
        let master = try server.start(in: self, name: "postgres")
        defer { try? stopTree(master.pid) }
        _ = try server.sql(in: self, "create table t(i int primary key)")

        var input: [Int32] = [0, 0]
        guard pipe(&input) == 0 else { throw HarnessError("pipe: \(errnoText())") }
        defer { close(input[1]) }
        let output = scratch.newPath("psql.out")
        let psql = try spawnProcess(pg.bin + "/psql", ["-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", overTCP ? "127.0.0.1" : dir,
                                                       "-p", String(port), "-U", "postgres", "-d", "postgres"],
                                    stdin: .descriptor(input[0]), stdout: output, stderr: scratch.newPath("psql.err"))
        close(input[0])
        defer { kill(psql, SIGKILL); _ = try? waitForExit(psql, timeout: 10) }
        let session = LogFile(path: output)
        func send(_ statements: String) throws {
            let bytes = Array(statements.utf8)
            guard write(input[1], bytes, bytes.count) == bytes.count else { throw HarnessError("writing to psql: \(errnoText())") }
        }
        try send("begin; insert into t select generate_series(1, 1000); select 'inserted', txid_current_if_assigned() is not null;\n")
        try session.waitForLine("the insert", timeout: 30, process: psql) { $0 == "inserted|t" }
        XCTAssertEqual(try server.sql(in: self, "select count(*) from t"), "0", "not committed yet")

        let (image, _) = try checkpointTree(master, options: dumpOptions)
        try restore(image, as: master)

        XCTAssertEqual(try server.sql(in: self, "select count(*) from t"), "0", "still not committed after the restore")
        try send("insert into t values (1001); commit; select 'committed', count(*) from t;\n")
        try session.waitForLine("the commit", timeout: 30, process: psql) { $0 == "committed|1001" }
        XCTAssertEqual(try server.sql(in: self, "select count(*), sum(i) from t"), "1001|501501")
        try assertStopsCleanly(master, on: SIGINT, within: 30) { server.log(of: master) }
    }

    /// pgbench and the server it drives in one tree, checkpointed in the
    /// middle of the run: four backends mid-transaction, holding locks in
    /// shared memory, their clients waiting on Unix sockets inside the
    /// tree. After the restore the run must finish with no failed
    /// transaction, and every balance must still add up (pgbench's
    /// accounts, branches, tellers and history sums are equal only if each
    /// transaction was applied exactly once and whole).
    func testPgbenchRunCheckpointedMidwayFinishesConsistent() throws {
        let (pg, dir) = try newCluster("pgbench")
        let script = dir + "/run.sh"
        try writeWholeFile(script, Array(benchScript(bin: pg.bin, dir: dir, port: try TestSocket.freeLoopbackPort()).utf8))
        chmod(script, 0o755)

        let run = try startProgram("pgbench-run", pg.setpriv, pg.asPostgres + ["/bin/bash", script], readyTimeout: 60)
        defer { try? stopTree(run.pid) }
        let progressLog = dir + "/bench.err"
        let midway = poll(timeout: 30, every: 0.02) { (readTextFile(progressLog) ?? "").contains("progress: 2.0 s") }
        guard midway else { throw HarnessError("pgbench made no progress: \(readTextFile(progressLog) ?? "")\n\(run.log.tail())") }

        let (image, pids) = try checkpointTree(run)
        // bash, the postmaster, five auxiliary processes, four backends, pgbench.
        XCTAssertGreaterThanOrEqual(pids.count, 12, "processes in the image: \(pids)")
        try restore(image, as: run)

        guard let status = try waitForExit(run.pid, timeout: 60) else {
            throw HarnessError("the restored run did not finish within 60 s\n\(run.log.tail())\n\(readTextFile(progressLog) ?? "")")
        }
        XCTAssertEqual(status, .exited(0), run.log.tail())
        try reapAll(pids)
        let lines = run.log.lines()
        XCTAssertTrue(lines.contains("bench exit 0"), "pgbench's exit: \(lines)")
        XCTAssertTrue(lines.contains("postgres exit 0"), "the postmaster's exit after SIGINT: \(lines)")
        let sums = lines.first { $0.hasPrefix("sums ") }.map { $0.dropFirst(5).split(separator: "|").map(String.init) } ?? []
        XCTAssertEqual(sums.count, 4, "accounts, branches, tellers and history sums: \(lines)")
        XCTAssertEqual(Set(sums).count, 1, "every balance adds up to the same total: \(sums)")
        let report = readTextFile(dir + "/bench.out") ?? ""
        XCTAssertTrue(report.contains("number of failed transactions: 0 "), report)
        let progress = readTextFile(progressLog) ?? ""
        XCTAssertTrue(progress.contains("progress: 5.0 s"), "pgbench carried on to the end after the restore:\n\(progress)")
    }

    /// A directory of postgres's own with a fresh cluster in `data` under it.
    private func newCluster(_ name: String) throws -> (PostgresInstallation, String) {
        let pg = try PostgresInstallation.find()
        chmod(scratch.path, 0o755)
        let dir = try scratch.newDirectory(name)
        guard chown(dir, pg.uid, pg.gid) == 0 else { throw HarnessError("chown \(dir): \(errnoText())") }
        let initdb = try runCommand(pg.setpriv, pg.asPostgres + [pg.bin + "/initdb", "-D", dir + "/data", "-A", "trust", "-U", "postgres", "--no-sync"],
                                    outputPrefix: scratch.newPath("initdb"), timeout: 120)
        guard initdb.succeeded else { throw HarnessError("initdb failed: \(initdb)") }
        return (pg, dir)
    }

    private func benchScript(bin: String, dir: String, port: UInt16) -> String {
        """
        #!/bin/bash
        set -u
        psql() { "\(bin)/psql" -X -At -h "\(dir)" -p \(port) -U postgres "$@" postgres; }
        "\(bin)/postgres" -D "\(dir)/data" -k "\(dir)" -p \(port) -c listen_addresses= -c fsync=off \\
            -c shared_buffers=16MB -c autovacuum_naptime=3600 2>"\(dir)/server.log" &
        for i in $(seq 300); do grep -q "ready to accept" "\(dir)/server.log" && break; sleep 0.1; done
        "\(bin)/pgbench" -h "\(dir)" -p \(port) -U postgres -i -s 1 postgres >"\(dir)/init.log" 2>&1 || exit 3
        echo ready
        "\(bin)/pgbench" -h "\(dir)" -p \(port) -U postgres -c 4 -j 2 -T 6 -P 1 postgres >"\(dir)/bench.out" 2>"\(dir)/bench.err"
        echo "bench exit $?"
        echo "sums $(psql -c "select (select sum(abalance) from pgbench_accounts), (select sum(bbalance) from pgbench_branches), (select sum(tbalance) from pgbench_tellers), (select sum(delta) from pgbench_history)")"
        kill -INT %1
        wait %1
        echo "postgres exit $?"

        """
    }

    /// The postmaster and its auxiliary processes, once the backend of the
    /// last client has gone.
    private func waitForIdleTree(_ master: Fixture) throws -> [ProcessIdentity] {
        var tree: [ProcessIdentity] = []
        let idle = poll(timeout: 10, every: 0.02) {
            tree = treeIdentity(master.pid)
            return tree.count == Self.auxiliaryCount + 1
        }
        guard idle else { throw HarnessError("the postgres tree never settled to \(Self.auxiliaryCount + 1) processes: \(tree)") }
        return tree
    }
}

/// Where Debian put PostgreSQL's programs, and its postgres account.
struct PostgresInstallation {
    let bin: String
    let uid: uid_t
    let gid: gid_t
    let setpriv = "/usr/bin/setpriv"

    /// The highest version under /usr/lib/postgresql with a postgres binary.
    static func find() throws -> PostgresInstallation {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap(Int.init).sorted()
        guard let version = versions.last(where: { access("\(root)/\($0)/bin/postgres", X_OK) == 0 }),
              let account = getpwnam("postgres") else {
            throw HarnessError("PostgreSQL is missing: install Debian's postgresql-15 (scripts/install-deps.sh does)")
        }
        return PostgresInstallation(bin: "\(root)/\(version)/bin", uid: account.pointee.pw_uid, gid: account.pointee.pw_gid)
    }

    /// setpriv's arguments to run a program as postgres: it execs, so the
    /// program keeps the PID the test started.
    var asPostgres: [String] { ["--reuid=\(uid)", "--regid=\(gid)", "--init-groups", "--"] }
}

/// One cluster's data directory, run by a postmaster the test starts.
struct PostgresServer {
    let installation: PostgresInstallation
    let data: String
    let socketDirectory: String
    let port: UInt16
    /// More "name=value" settings for the postmaster.
    var settings: [String] = []

    /// Starts a postmaster and waits until it accepts connections.
    func start(in test: EndToEndCase, name: String) throws -> Fixture {
        let arguments = installation.asPostgres + [
            installation.bin + "/postgres", "-D", data, "-k", socketDirectory, "-p", String(port),
            "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "shared_buffers=16MB",
            "-c", "autovacuum_naptime=3600", "-c", "logging_collector=off",
        ] + settings.flatMap { ["-c", $0] }
        let master = try test.startProgram(name, installation.setpriv, arguments, isReady: nil)
        let ready = poll(timeout: 30, every: 0.02) { log(of: master).contains("ready to accept connections") }
        guard ready else {
            try? test.stopTree(master.pid)
            throw HarnessError("postgres did not get ready within 30 s\n\(log(of: master))")
        }
        return master
    }

    /// Runs one statement through psql and returns its unaligned output.
    func sql(in test: EndToEndCase, _ statement: String, overTCP: Bool = false) throws -> String {
        let host = overTCP ? "127.0.0.1" : socketDirectory
        let result = try runCommand(installation.bin + "/psql",
                                    ["-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", String(port), "-U", "postgres", "-d", "postgres", "-c", statement],
                                    outputPrefix: test.scratch.newPath("psql"), timeout: 60)
        guard result.succeeded else { throw HarnessError("psql failed: \(result)") }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// What the postmaster wrote to its stderr.
    func log(of master: Fixture) -> String {
        readTextFile(master.stderrPath) ?? ""
    }
}
