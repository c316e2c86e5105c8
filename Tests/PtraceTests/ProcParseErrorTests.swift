import Glibc
import Ptrace
import XCTest

/// Text that is not what the kernel writes must fail with a ProcParseError
/// that names the file, never yield half-filled records.
final class ProcParseErrorTests: XCTestCase {
    func expectParseError<T>(_ file: String, _ reasonPart: String, _ body: () throws -> T,
                             line: UInt = #line) {
        do {
            let value = try body()
            XCTFail("parsed \(value) from malformed \(file)", line: line)
        } catch let error as ProcParseError {
            XCTAssertEqual(error.file, file, line: line)
            XCTAssertTrue(error.reason.contains(reasonPart), "reason \"\(error.reason)\" lacks \"\(reasonPart)\"", line: line)
            XCTAssertTrue(error.description.contains(file), error.description, line: line)
            XCTAssertTrue(error.description.contains(error.reason), error.description, line: line)
        } catch {
            XCTFail("\(file): expected ProcParseError, got \(type(of: error)): \(error)", line: line)
        }
    }

    func testMaps() {
        let file = "/proc/4242/maps"
        let good = "1000-2000 r--p 00000000 08:01 12 /bin/x\n"
        expectParseError(file, "address range") { try Maps.parse("hello world\n", file: file) }
        expectParseError(file, "address range") { try Maps.parse(good + "10002000 r--p 00000000 08:01 12\n", file: file) }
        expectParseError(file, "address range") { try Maps.parse("zz00-2000 r--p 00000000 08:01 12\n", file: file) }
        expectParseError(file, "address range") { try Maps.parse("2000-1000 r--p 00000000 08:01 12\n", file: file) }
        expectParseError(file, "permissions") { try Maps.parse("1000-2000 r-p 00000000 08:01 12\n", file: file) }
        expectParseError(file, "permissions") { try Maps.parse("1000-2000\n", file: file) }
        expectParseError(file, "offset") { try Maps.parse("1000-2000 r--p 0000zz00 08:01 12\n", file: file) }
        expectParseError(file, "inode") { try Maps.parse("1000-2000 r--p 00000000 08:01 -12 /x\n", file: file) }
        expectParseError(file, "inode") { try Maps.parse("1000-2000 r--p 00000000 08:01\n", file: file) }
        expectParseError(file, "inode") { try Maps.parse("1000-2000 r--p 00000000 08:01 18446744073709551616 /x\n", file: file) }
        expectParseError(file, "address range") { try Maps.parse("10000000000000000-10000000000000001 r--p 0 08:01 1\n", file: file) }
    }

    /// Hex digits in either case, as UInt64(_:radix:) took them.
    func testMapsTakesUppercaseHex() throws {
        let e = try XCTUnwrap(try Maps.parse("7F00-7FFF r--p 00A0 08:01 12 /x\n").first)
        XCTAssertEqual(e.start, 0x7f00)
        XCTAssertEqual(e.end, 0x7fff)
        XCTAssertEqual(e.offset, 0xa0)
    }

    func testNetlinkTable() throws {
        let file = "/proc/4242/net/netlink"
        let header = "sk               Eth Pid        Groups   Rmem     Wmem     Dump  Locks    Drops    Inode\n"
        let row = "000000008b87ad3a 0   12819      00000110 2304     0        1     2        7        2865617 \n"
        let rows = try NetlinkTable.parse(header + row, file: file)
        XCTAssertEqual(rows.count, 1)
        XCTAssertEqual(rows.map { [UInt64($0.protocolNumber), UInt64($0.portID), UInt64($0.groups), $0.receiveMemory, $0.drops, $0.inode] },
                       [[0, 12819, 0x110, 2304, 7, 2865617]])
        XCTAssertEqual(rows.first?.dumpRunning, true)
        expectParseError(file, "netlink socket row") { try NetlinkTable.parse(header + "000000008b87ad3a 0 12819\n", file: file) }
        expectParseError(file, "netlink socket row") { try NetlinkTable.parse(header + row.replacingOccurrences(of: "00000110", with: "zz"), file: file) }
    }

    func testInetSocketTable() throws {
        let file = "/proc/4242/net/raw"
        let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
        let row = " 247: 0100007F:0001 0200007F:0000 01 00000000:00000000 00:00000000 00000000     0        0 2917977 2 0000000025306a7e 0\n"
        let rows = try InetSocketTable.parse(header + row, file: file)
        XCTAssertEqual(rows.map(\.localAddress), [[127, 0, 0, 1]])
        XCTAssertEqual(rows.map(\.remoteAddress), [[127, 0, 0, 2]])
        XCTAssertEqual(rows.map(\.inode), [2917977])
        XCTAssertEqual(rows.map(\.localPort), [1])
        XCTAssertEqual(rows.first?.isConnected, true)
        let six = "  110: 00000000000000000000000001000000:003A 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 2917978 2 000000003d0e489d 0\n"
        let rows6 = try InetSocketTable.parse(header + six, file: file)
        XCTAssertEqual(rows6.first?.localAddress, [UInt8](repeating: 0, count: 15) + [1])
        XCTAssertEqual(rows6.first?.isConnected, false)
        // tcp6: an IPv4 peer of a dual-stack listener, ::ffff:127.0.0.1:53782 to port 8080, established.
        let mapped = "   3: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:D216 01 00000000:00000000 00:00000000 00000000     0        0 4552385 1 0000000000000000 20 4 30 10 -1\n"
        let tcp6 = try InetSocketTable.parse(header + mapped, file: "/proc/4242/net/tcp6")
        XCTAssertEqual(tcp6.first?.localAddress, [UInt8](repeating: 0, count: 10) + [0xff, 0xff, 127, 0, 0, 1])
        XCTAssertEqual(tcp6.first?.localPort, 8080)
        XCTAssertEqual(tcp6.first?.remotePort, 53782)
        XCTAssertEqual(tcp6.first?.state, 1)
        expectParseError(file, "inet socket row") { try InetSocketTable.parse(header + " 247: 0100007F 0200007F:0000 01\n", file: file) }
        expectParseError(file, "inet socket row") { try InetSocketTable.parse(header + row.replacingOccurrences(of: "0200007F", with: "02007F"), file: file) }
    }

    /// AUDIT_GET's answer: struct audit_status after the header, pid at
    /// its fourth word; and the daemon query itself answers here.
    func testAuditStatus() throws {
        let header = [UInt8].le(UInt32(16 + 40)) + [UInt8].le(UInt16(1000), UInt16(0)) + [UInt8].le(UInt32(1), UInt32(0))
        XCTAssertEqual(try AuditStatus.parse(header + [UInt8].le(UInt32(1), UInt32(1), UInt32(1), UInt32(4242)) + [UInt8](repeating: 0, count: 24)), 4242)
        XCTAssertNil(try AuditStatus.parse(header + [UInt8](repeating: 0, count: 40)))
        let error = [UInt8].le(UInt32(36)) + [UInt8].le(UInt16(2), UInt16(0)) + [UInt8].le(UInt32(1), UInt32(0), UInt32(bitPattern: -EPERM)) + [UInt8](repeating: 0, count: 16)
        XCTAssertThrowsError(try AuditStatus.parse(error))
        XCTAssertThrowsError(try AuditStatus.parse([1, 2, 3]))
        let daemon = try AuditStatus.daemonPID()
        XCTAssertTrue(daemon.map { kill($0, 0) == 0 } ?? true, "a registered audit daemon is a live process")
    }

    func testMapsErrorQuotesTheBadLine() {
        do {
            _ = try Maps.parse("1000-2000 r--p 00000000 08:01 12 /ok\n1000-2000 rw 0 0 0\n", file: "m")
            XCTFail("parsed")
        } catch let error as ProcParseError {
            XCTAssertEqual(error.line, "1000-2000 rw 0 0 0")
        } catch {
            XCTFail("\(error)")
        }
    }

    func testStat() {
        let file = "/proc/4242/stat"
        let good = ProcFileSampleTests.statLine(pid: "4242", command: "sleep")
        expectParseError(file, "parentheses") { try ProcStat.parse("4242 sleep S 1 2 3", file: file) }
        expectParseError(file, "parentheses") { try ProcStat.parse("", file: file) }
        expectParseError(file, "pid") { try ProcStat.parse("x" + good, file: file) }
        expectParseError(file, "state") { try ProcStat.parse("4242 (sleep)", file: file) }
        expectParseError(file, "missing field") { try ProcStat.parse("4242 (sleep) S 1 2 3 0 -1 4194304", file: file) }
        expectParseError(file, "missing field 51") {
            try ProcStat.parse(String(good.split(separator: " ").dropLast(2).joined(separator: " ")), file: file)
        }
        expectParseError(file, "missing field 52") {
            try ProcStat.parse(String(good.split(separator: " ").dropLast().joined(separator: " ")), file: file)
        }
        expectParseError(file, "field 4") { try ProcStat.parse(good.replacingOccurrences(of: ") S 29309 ", with: ") S ppid "), file: file) }
    }

    func testStatus() {
        let file = "/proc/4242/task/4243/status"
        let good = ProcFileSampleTests.status
        expectParseError(file, "Tgid") { try ProcStatus.parse(good.replacingOccurrences(of: "Tgid:\t5120\n", with: ""), file: file) }
        expectParseError(file, "Uid") { try ProcStatus.parse(good.replacingOccurrences(of: "Uid:", with: "Uids:"), file: file) }
        expectParseError(file, "Pid") { try ProcStatus.parse(good.replacingOccurrences(of: "Pid:\t5123", with: "Pid:\tfive"), file: file) }
        expectParseError(file, "Gid") { try ProcStatus.parse(good.replacingOccurrences(of: "Gid:\t2000\t", with: "Gid:\t2000\tx\t"), file: file) }
        expectParseError(file, "missing") { try ProcStatus.parse("", file: file) }
    }

    func testLimits() {
        let file = "/proc/4242/limits"
        expectParseError(file, "bad limit") { try Limits.parse("Max open files            lots                 4096                 files\n", file: file) }
        expectParseError(file, "bad limit") { try Limits.parse("Max open files            1024                 -1                   files\n", file: file) }
        expectParseError(file, "soft/hard") { try Limits.parse("Max open files            1024\n", file: file) }
    }

    func testFdInfo() {
        let file = "/proc/4242/fdinfo/3"
        expectParseError(file, "pos") { try FdInfo.parse("flags:\t02\nmnt_id:\t1\n", file: file) }
        expectParseError(file, "pos") { try FdInfo.parse("pos:\tfar\nflags:\t02\n", file: file) }
        expectParseError(file, "flags") { try FdInfo.parse("pos:\t0\nmnt_id:\t1\n", file: file) }
        expectParseError(file, "flags") { try FdInfo.parse("pos:\t0\nflags:\t0109\n", file: file) }
        expectParseError(file, "pos") { try FdInfo.parse("", file: file) }
    }

    func testFileLockLines() {
        let file = "/proc/4242/fdinfo/3"
        let head = "pos:\t0\nflags:\t02\nlock:\t"
        expectParseError(file, "lock kind") { try FdInfo.parse(head + "1: UNKNOWN UNKNOWN  WRITE 1 fe:00:5 0 EOF\n", file: file) }
        expectParseError(file, "access") { try FdInfo.parse(head + "1: POSIX  ADVISORY  SOME 1 fe:00:5 0 EOF\n", file: file) }
        expectParseError(file, "7 fields") { try FdInfo.parse(head + "1: POSIX  ADVISORY  WRITE 1 fe:00:5 0\n", file: file) }
        expectParseError(file, "number") { try FdInfo.parse(head + "POSIX  ADVISORY  WRITE 1 fe:00:5 0 EOF\n", file: file) }
        expectParseError(file, "pid") { try FdInfo.parse(head + "1: POSIX  ADVISORY  WRITE me fe:00:5 0 EOF\n", file: file) }
        expectParseError(file, "file") { try FdInfo.parse(head + "1: POSIX  ADVISORY  WRITE 1 fe:00:x 0 EOF\n", file: file) }
        expectParseError(file, "start") { try FdInfo.parse(head + "1: POSIX  ADVISORY  WRITE 1 fe:00:5 -4 EOF\n", file: file) }
        expectParseError(file, "end") { try FdInfo.parse(head + "1: POSIX  ADVISORY  WRITE 1 fe:00:5 10 9\n", file: file) }
    }

    func testReadingAMissingProcessIsASystemErrorNotAParseError() {
        for read in [{ _ = try Maps.read(pid: -5) }, { _ = try ProcStat.read(pid: -5) }, { _ = try ProcStatus.read(pid: -5) },
                     { _ = try Limits.read(pid: -5) }, { _ = try FdInfo.read(pid: getpid(), fd: -1) }] as [() throws -> Void] {
            XCTAssertThrowsError(try read()) { error in
                guard let e = error as? SystemError else { return XCTFail("\(error)") }
                XCTAssertEqual(e.errno, ENOENT)
                XCTAssertTrue(e.description.contains("/proc/"), e.description)
            }
        }
    }
}
