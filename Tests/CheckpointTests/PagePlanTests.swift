@testable import Checkpoint
import Foundation
import Glibc
import Ptrace
import XCTest

/// Which pages a dump reads: a VMA smaps shows wholly the process's own is
/// planned whole without its pagemap, any other page by page from pagemap,
/// and either way a private file mapping gives only its pages copied on
/// write.
final class PagePlanTests: XCTestCase {
    /// Four regions of 64 pages, each a VMA of its own (mapped into one
    /// reservation with an inaccessible page between, so neighbours do not
    /// merge): anonymous memory written everywhere, anonymous memory
    /// written on even pages, a private mapping of a file read everywhere
    /// and written on even pages, and one written everywhere. Prints their
    /// addresses.
    static let program = """
        import ctypes, mmap, os, sys, time
        P = 4096
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
        fd = os.open(sys.argv[1], os.O_RDWR)
        base = libc.mmap(None, 4 * 65 * P + P, 0, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
        rw = mmap.PROT_READ | mmap.PROT_WRITE
        regions = []
        for i, kind in enumerate(("full", "holes", "cow_half", "cow_all")):
            at = base + P + i * 65 * P
            if kind in ("full", "holes"):
                got = libc.mmap(at, 64 * P, rw, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | 0x10, -1, 0)
            else:
                got = libc.mmap(at, 64 * P, rw, mmap.MAP_PRIVATE | 0x10, fd, 0)
            assert got == at, ctypes.get_errno()
            regions.append((ctypes.c_char * (64 * P)).from_address(at))
        full, holes, cow_half, cow_all = regions
        for p in range(64):
            full[p * P] = b"\\x01"
            if p % 2 == 0: holes[p * P] = b"\\x01"
            _ = cow_half[p * P]
            if p % 2 == 0: cow_half[p * P] = b"\\x02"
            cow_all[p * P] = b"\\x03"
        print(*[ctypes.addressof(m) for m in regions], flush=True)
        while True:
            time.sleep(1)
        """

    func testEveryRegionIsPlannedWithItsOwnPagesOnly() throws {
        let directory = TestData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/mapped"
        try Data(repeating: 5, count: 64 * 4096).write(to: URL(fileURLWithPath: file))

        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        python.arguments = ["-E", "-c", Self.program, file]
        let out = Pipe()
        python.standardOutput = out
        try python.run()
        defer { python.terminate(); python.waitUntilExit() }
        let line = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        let addresses = line.split(whereSeparator: \.isWhitespace).compactMap { UInt64($0) }
        XCTAssertEqual(addresses.count, 4, line)
        guard addresses.count == 4 else { return }
        let pid = python.processIdentifier

        let maps = try Maps.read(pid: pid)
        let details = try Smaps.details(pid: pid)
        let vmas = try addresses.map { address in
            let entry = try XCTUnwrap(maps.first { $0.start == address }, "no VMA starts at \(String(address, radix: 16))")
            return try VMAClassifier.images(of: [entry], pid: pid)[0]
        }
        XCTAssertEqual(vmas.map(\.kind), [.anonymous, .anonymous, .privateFile, .privateFile])
        XCTAssertEqual(vmas.map(\.size), [UInt64](repeating: 64 * 4096, count: 4))
        let whole = vmas.map { MemoryDumper.holdsEveryPage($0, try! XCTUnwrap(details[$0.start]), anonymous: $0.kind == .anonymous) }
        XCTAssertEqual(whole, [true, false, false, true],
                       "only the regions written everywhere are the process's own throughout; file pages only read are not")

        let dumper = MemoryDumper(pid: pid, memory: RemoteMemory(pid: pid))
        let items = try dumper.plan(vmas: vmas, details: details)
        func pages(of vma: Int) -> [Int] {
            items.filter { $0.vma == vma }.flatMap { item in
                (0..<item.pages).map { Int((item.address - vmas[vma].start) / 4096) + $0 }
            }
        }
        let even = Array(stride(from: 0, to: 64, by: 2))
        XCTAssertEqual(pages(of: 0), Array(0..<64))
        XCTAssertEqual(pages(of: 1), even, "pages never written are not there to read")
        XCTAssertEqual(pages(of: 2), even, "file pages only read are the file's, not the process's")
        XCTAssertEqual(pages(of: 3), Array(0..<64))
        XCTAssertEqual(items.filter { $0.vma == 0 }.count, 1, "a region smaps shows whole is one run")
        XCTAssertEqual(items.map(\.skipZeroPages), items.map { vmas[$0.vma].kind == .anonymous },
                       "a file's zeros copied on write are kept")
    }
}
