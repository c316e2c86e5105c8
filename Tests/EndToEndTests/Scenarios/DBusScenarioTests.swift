import Glibc
import XCTest

/// A D-Bus session bus (dbus-daemon): its listening socket, epoll,
/// inotify on its configuration and the audit socket libaudit keeps for
/// its records. After the restore clients connect and are answered.
final class DBusScenarioTests: EndToEndCase {
    func testSessionBusAnswersClientsAfterTheRestore() throws {
        let daemon = "/usr/bin/dbus-daemon", send = "/usr/bin/dbus-send"
        try requirePrograms(daemon, send, from: "Debian's dbus-daemon and dbus-bin")
        let bus = try startProgram("dbus", daemon, ["--session", "--nofork", "--print-address"], isReady: { $0.hasPrefix("unix:") })
        let address = try XCTUnwrap(bus.log.lines().first { $0.hasPrefix("unix:") })
        let kinds = (try FileManager.default.contentsOfDirectory(atPath: "/proc/\(bus.pid)/fd")).map {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(bus.pid)/fd/\($0)")) ?? ""
        }
        XCTAssertTrue(kinds.contains("anon_inode:inotify") && kinds.contains("anon_inode:[eventpoll]"), "\(kinds)")
        func listNames() throws -> CommandResult {
            try runCommand("/usr/bin/env", ["DBUS_SESSION_BUS_ADDRESS=\(address)", send, "--session", "--print-reply",
                                            "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.ListNames"],
                           outputPrefix: scratch.newPath("dbus-send"), timeout: 30)
        }
        let before = try listNames()
        XCTAssertTrue(before.succeeded && before.stdout.contains("org.freedesktop.DBus"), "\(before)")

        let (image, _) = try roundTrip(bus)
        let saved = try String(contentsOfFile: try ImageFiles(directory: image, pid: bus.pid).processFile(), encoding: .utf8)
        XCTAssertTrue(saved.contains("\"netlinkSocket\" : {\n        \"family\" : 9"), "the image holds its audit socket")
        for _ in 0..<3 {
            let after = try listNames()
            XCTAssertTrue(after.succeeded && after.stdout.contains("org.freedesktop.DBus"), "\(after)")
        }
        XCTAssertTrue(ProcessTable.isAlive(bus.pid))
    }
}
