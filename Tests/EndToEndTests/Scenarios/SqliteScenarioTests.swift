import Glibc
import XCTest

/// A real database holding its write lock across a checkpoint: Python's
/// sqlite3 in the middle of a write transaction. Another writer is told
/// the database is locked before the dump and again after the restore
/// (a restore that dropped the lock would let it write under the open
/// transaction); then the restored writer commits and both of its rows
/// are there, once each.
final class SqliteScenarioTests: EndToEndCase {
    func testWriteTransactionKeepsItsLockAcrossRestore() throws {
        guard let python = BuildProducts.python3 else {
            throw HarnessError("this test needs python3: apt-get install python3 (scripts/install-deps.sh installs it)")
        }
        let database = try scratch.newDirectory("sqlite") + "/notes.db"
        let script = BuildProducts.packageRoot + "/fixtures/python/sqlite_writer.py"
        let writer = try startProgram("sqlite-writer", python, [script, database])
        defer { try? stopTree(writer.pid) }
        try writer.waitFor("tick", atLeast: 2)

        XCTAssertEqual(try otherWriter(python, database), "locked", "another writer before the dump")
        let (_, mark) = try roundTrip(writer)
        try writer.waitFor("a tick after the restore", from: mark) { $0.hasPrefix("tick ") }
        XCTAssertEqual(try otherWriter(python, database), "locked", "another writer after the restore")

        try writer.signal(SIGUSR1)
        try writer.waitFor(line: "committed", from: mark)
        XCTAssertEqual(try otherWriter(python, database), "wrote; rows: before the dump, after the restore, other writer")
        assertSequence(writer, "tick", startingAt: 1)
        assertNoFailures(writer)
    }

    /// A second connection, in its own process, tries to write at once
    /// (no busy timeout): "locked", or "wrote; rows: ..." with every row.
    private func otherWriter(_ python: String, _ database: String) throws -> String {
        let program = """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=0)
            try:
                db.execute("begin immediate")
            except sqlite3.OperationalError as error:
                print("locked" if "locked" in str(error) else f"error: {error}")
                sys.exit(0)
            db.execute("insert into notes values ('other writer')")
            db.execute("commit")
            print("wrote; rows: " + ", ".join(row[0] for row in db.execute("select text from notes order by rowid")))
            """
        let result = try runCommand(python, ["-c", program, database], outputPrefix: scratch.newPath("other-writer"), timeout: 30)
        guard result.succeeded else { throw HarnessError("the other writer failed: \(result)") }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
