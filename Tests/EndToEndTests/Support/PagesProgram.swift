import Glibc
import XCTest

/// A python3 program whose pages the tests change between images and
/// check after a restore: each page's expected content lives in the
/// program's own memory, so an image that brings back a page from another
/// moment than the rest fails the check.
extension EndToEndCase {
    func startPagesProgram() throws -> Fixture {
        try startPython("pages", PagesProgram.program)
    }

    /// Has the program compare every page with what it expects, after the
    /// log line `mark`.
    func checkPages(_ program: Fixture, from mark: Int) throws {
        try program.signal(SIGUSR2)
        try program.waitFor(line: "check ok", from: mark)
    }

    /// Restores `image` as `program`, which must then have every page as
    /// expected and tick on with no failure reported.
    func restoreAndCheckPages(_ image: String, as program: Fixture) throws {
        let mark = program.lineCount
        try restore(image, as: program)
        try checkPages(program, from: mark)
        try program.waitForMore("tick", 3, after: mark)
        assertNoFailures(program)
    }
}

enum PagesProgram {
    /// 64 pages, page i filled with the byte i + 1. SIGUSR1 changes some:
    /// 5 dropped, 6 dropped and read (zeros), 7 written, 8 dropped then
    /// written. SIGUSR2 checks them all.
    static let program = """
        import mmap, signal, time
        PAGE = 4096
        m = mmap.mmap(-1, 64 * PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        for i in range(64):
            m[i * PAGE:(i + 1) * PAGE] = bytes([i + 1]) * PAGE
        expected = {i: bytes([i + 1]) * PAGE for i in range(64)}
        asked = []
        signal.signal(signal.SIGUSR1, lambda s, f: asked.append("change"))
        signal.signal(signal.SIGUSR2, lambda s, f: asked.append("check"))
        print("ready", flush=True)
        tick = 0
        while True:
            while asked:
                what = asked.pop(0)
                if what == "change":
                    m.madvise(mmap.MADV_DONTNEED, 5 * PAGE, PAGE)
                    m.madvise(mmap.MADV_DONTNEED, 6 * PAGE, PAGE)
                    assert m[6 * PAGE] == 0
                    m[7 * PAGE:8 * PAGE] = b"\\xee" * PAGE
                    m.madvise(mmap.MADV_DONTNEED, 8 * PAGE, PAGE)
                    m[8 * PAGE:9 * PAGE] = b"\\xdd" * PAGE
                    expected[5] = expected[6] = bytes(PAGE)
                    expected[7] = b"\\xee" * PAGE
                    expected[8] = b"\\xdd" * PAGE
                    print("changed", flush=True)
                else:
                    bad = [i for i in range(64) if m[i * PAGE:(i + 1) * PAGE] != expected[i]]
                    print("check ok" if not bad else "FAIL: pages %s differ" % bad, flush=True)
            tick += 1
            print("tick %d" % tick, flush=True)
            time.sleep(0.05)
        """
}
