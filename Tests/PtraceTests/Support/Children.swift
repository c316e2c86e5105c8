import CSupport
import Foundation
import Glibc
import Ptrace
import XCTest

/// waitpid option that also reports clone children and traced threads.
let waitAll = Int32(bitPattern: 0x4000_0000)

/// A failed expectation inside code that cannot use XCTAssert directly
/// (the tracer thread): thrown, so the test fails with this message.
struct Expectation: Error, CustomStringConvertible {
    var description: String
}

func require(_ condition: Bool, _ message: @autoclosure () -> String, line: UInt = #line) throws {
    if !condition { throw Expectation(description: "line \(line): \(message())") }
}

func requireEqual<T: Equatable>(_ actual: T, _ expected: T, _ what: String, line: UInt = #line) throws {
    if actual != expected { throw Expectation(description: "line \(line): \(what) is \(actual), expected \(expected)") }
}

/// Processes a test started. Whatever happens in the test, the teardown
/// kills and reaps every one that has not been reaped yet, so no test
/// leaves a child behind.
final class Children: @unchecked Sendable {
    private let lock = NSLock()
    private var live: Set<pid_t> = []

    func adopt(_ pid: pid_t) {
        lock.lock(); defer { lock.unlock() }
        live.insert(pid)
    }

    /// Marks `pid` reaped by someone else (so the teardown never signals a
    /// PID that may already belong to another process).
    func forget(_ pid: pid_t) {
        lock.lock(); defer { lock.unlock() }
        live.remove(pid)
    }

    func killAll() {
        lock.lock()
        let pids = live
        live = []
        lock.unlock()
        for pid in pids {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, waitAll) == -1 && errno == EINTR {}
        }
    }

    /// Waits up to `timeout` seconds for `pid` to end and returns its raw
    /// wait status, or nil (after killing it) when it is still running.
    func waitForExit(_ pid: pid_t, timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        while Date() < deadline {
            let r = waitpid(pid, &status, WNOHANG | waitAll)
            if r == pid {
                forget(pid)
                return status
            }
            if r == -1 && errno != EINTR { return nil }
            usleep(10_000)
        }
        return nil
    }
}

extension XCTestCase {
    /// A registry of child processes that is emptied (kill + reap) when the test ends.
    func makeChildren() -> Children {
        let children = Children()
        addTeardownBlock { children.killAll() }
        return children
    }

    /// Starts `executable` with posix_spawn (no fork of this multi-threaded
    /// process), default signal dispositions, an empty mask, stdio on
    /// /dev/null and nothing else open (CleanSpawn).
    func spawn(_ executable: String, _ arguments: [String], into children: Children,
               file: StaticString = #filePath, line: UInt = #line) throws -> pid_t {
        let pid = try CleanSpawn.spawn(executable, arguments, stdout: "/dev/null", stderr: "/dev/null")
        children.adopt(pid)
        return pid
    }

    /// A /bin/sleep child that has reached its clock_nanosleep.
    func spawnSleeper(seconds: Int = 30, into children: Children) throws -> pid_t {
        let pid = try spawn("/bin/sleep", [String(seconds)], into: children)
        try waitUntil("sleep \(pid) blocks in clock_nanosleep") { blockedSyscall(pid) == 230 }
        return pid
    }
}

/// Polls `condition` every 10 ms for up to `timeout` seconds.
func waitUntil(_ what: String, timeout: Double = 10, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return }
        usleep(10_000)
    }
    throw Expectation(description: "timed out waiting until \(what)")
}

/// The system call number a blocked process sits in, from /proc/PID/syscall
/// ("running" or an unreadable file give nil).
func blockedSyscall(_ pid: pid_t) -> Int? {
    guard let text = try? ProcFile.text("/proc/\(pid)/syscall", pid: pid) else { return nil }
    return text.split(separator: " ").first.flatMap { Int($0) }
}

/// Whether /bin/sleep `pid` is blocked in its sleep: clock_nanosleep, or
/// restart_syscall when a stop interrupted that and the kernel resumed it.
func isSleeping(_ pid: pid_t) -> Bool {
    let nr = blockedSyscall(pid)
    return nr == 230 || nr == 219
}

/// One field of /proc/PID/stat counted as proc(5) does (1 = pid), read
/// without the parser under test.
func rawStatField(_ pid: pid_t, _ n: Int) -> String? {
    guard let text = try? ProcFile.text("/proc/\(pid)/stat", pid: pid),
          let close = text.lastIndex(of: ")") else { return nil }
    let rest = text[text.index(after: close)...].split(separator: " ")
    let i = n - 3
    return i >= 0 && i < rest.count ? String(rest[i]).trimmingCharacters(in: .whitespacesAndNewlines) : nil
}

/// The kernel thread id of the calling thread (gettid).
/// tgkill(2): a signal to one thread, queued privately for it.
func threadKill(_ pid: pid_t, _ tid: pid_t, _ signal: Int32) -> Int {
    cr_syscall6(234, UInt64(pid), UInt64(tid), UInt64(signal), 0, 0, 0)
}

/// memfd_create(2), which the Glibc module does not export.
func memfdCreate(_ name: String) -> Int32 {
    name.withCString { Int32(cr_syscall6(319, UInt64(UInt(bitPattern: $0)), 0, 0, 0, 0, 0)) }
}

/// The mount ID statx(2) reports for an open descriptor (STATX_MNT_ID).
func mountID(of fd: Int32) -> UInt64? {
    var buffer = [UInt8](repeating: 0, count: 256)
    let r = buffer.withUnsafeMutableBytes { b in
        "".withCString { empty in
            cr_syscall6(332, UInt64(fd), UInt64(UInt(bitPattern: empty)), 0x1000 /* AT_EMPTY_PATH */,
                        0x1000 /* STATX_MNT_ID */, UInt64(UInt(bitPattern: b.baseAddress!)), 0)
        }
    }
    guard r == 0, buffer.le(UInt32.self, at: 0) & 0x1000 != 0 else { return nil }
    return buffer.le(UInt64.self, at: 144)
}

/// The "major:minor" text maps shows for a device number, from glibc's encoding.
func deviceText(_ dev: UInt64) -> String {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & ~0xfff)
    let minor = (dev & 0xff) | ((dev >> 12) & ~0xff)
    return String(format: "%02x:%02x", major, minor)
}
