import Glibc
import XCTest

/// Debian's MariaDB with InnoDB on Linux AIO, as it runs wherever io_uring
/// is forbidden (Docker's default seccomp profile): a server of fourteen
/// threads, one of them waiting in io_getevents on the context whose ring
/// is mapped in the process. After the restore the server must take new
/// writes, flush every page through the restored context in a slow
/// shutdown, and leave data files a new server opens without recovery and
/// with every row.
final class MariaDBScenarioTests: EndToEndCase {
    static let server = "/usr/sbin/mariadbd"
    static let installDB = "/usr/bin/mariadb-install-db"
    static let client = "/usr/bin/mariadb"

    func testInnoDBOnLinuxAIOWritesAndShutsDownCleanAfterRestore() throws {
        try requirePrograms(Self.server, Self.installDB, Self.client, from: "Debian's mariadb-server")
        try disableIOUring()
        let dir = try scratch.newDirectory("mariadb")
        let install = try runCommand(Self.installDB, ["--no-defaults", "--datadir=\(dir)/data", "--user=root",
                                                      "--auth-root-authentication-method=normal", "--skip-test-db"],
                                     outputPrefix: scratch.newPath("install-db"), timeout: 120)
        guard install.succeeded else { throw HarnessError("mariadb-install-db failed: \(install)") }

        let first = try start(dir, name: "mariadb")
        defer { try? stopTree(first.pid) }
        XCTAssertTrue(first.log.lines().contains { $0.contains("InnoDB: Using Linux native AIO") }, first.log.tail())
        _ = try sql(dir, "create database t; use t; create table t.n (id int primary key auto_increment, v varchar(64)) engine=innodb;"
                    + " insert into t.n (v) values ('before the dump');"
                    + " insert into t.n (v) select concat('row ', seq) from seq_1_to_20000")
        try waitUntilClean(dir)
        let ring = try aioRing(first.pid)

        try roundTrip(first)
        XCTAssertEqual(try aioRing(first.pid), ring, "the AIO context is back at its address")
        XCTAssertEqual(try sql(dir, "select count(*), sum(v = 'before the dump') from t.n"), "20001\t1")
        _ = try sql(dir, "insert into t.n (v) values ('after the restore');"
                    + " insert into t.n (v) select concat('more ', seq) from t.seq_1_to_20000;"
                    + " update t.n set v = concat(v, ' updated') where id % 3 = 0;"
                    + " set global innodb_fast_shutdown = 0")
        let summary = "select count(*), md5(group_concat(v order by id)) from t.n"
        let written = try sql(dir, summary)

        // A slow shutdown writes every dirty page through the context.
        try assertStopsCleanly(first, on: SIGTERM, within: 60) { first.log.tail() }
        XCTAssertTrue(first.log.lines().contains { $0.contains("Shutdown complete") }, first.log.tail())
        XCTAssertFalse(first.log.lines().contains { $0.contains("[ERROR]") }, first.log.tail())

        let second = try start(dir, name: "mariadb-again")
        defer { try? stopTree(second.pid) }
        XCTAssertEqual(try sql(dir, summary), written, "the rows a new server finds")
        XCTAssertEqual(try sql(dir, "check table t.n extended"), "t.n\tcheck\tstatus\tOK")
        XCTAssertFalse(second.log.lines().contains { $0.contains("[ERROR]") || $0.contains("crash recovery") }, second.log.tail())
        try second.signal(SIGTERM)
        XCTAssertEqual(try waitForExit(second.pid, timeout: 60), .exited(0))
    }

    /// The server, its error log on stdout (the fixture's log).
    private func start(_ dir: String, name: String) throws -> Fixture {
        let command = "exec \(Self.server) --no-defaults --datadir=\(dir)/data --user=root --socket=\(dir)/socket"
            + " --skip-networking --pid-file=\(dir)/pid --innodb-buffer-pool-size=64M 2>&1"
        return try startProgram(name, "/bin/sh", ["-c", command], readyTimeout: 60) { $0.contains("ready for connections") }
    }

    private func sql(_ dir: String, _ statements: String) throws -> String {
        let result = try runCommand(Self.client, ["--no-defaults", "-S", "\(dir)/socket", "-uroot", "-N", "-B", "-e", statements],
                                    outputPrefix: scratch.newPath("sql"), timeout: 120)
        guard result.succeeded else { throw HarnessError("mariadb: \(statements): \(result)") }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Until no page is dirty: an idle server with nothing to flush has no
    /// request in flight, which a dump could not carry.
    private func waitUntilClean(_ dir: String) throws {
        _ = try sql(dir, "set global innodb_max_dirty_pages_pct = 0")
        let clean = try poll(timeout: 30, every: 0.1) {
            try sql(dir, "select variable_value from information_schema.global_status where variable_name = 'INNODB_BUFFER_POOL_PAGES_DIRTY'") == "0"
        }
        guard clean else { throw HarnessError("InnoDB kept dirty pages for 30 s") }
    }

    private func aioRing(_ pid: pid_t) throws -> String {
        let maps = try XCTUnwrap(readTextFile("/proc/\(pid)/maps"))
        return try XCTUnwrap(maps.split(separator: "\n").first { $0.hasSuffix("/[aio] (deleted)") }.map { String($0.prefix { $0 != " " }) },
                             "no AIO ring in pid \(pid)'s maps")
    }
}
