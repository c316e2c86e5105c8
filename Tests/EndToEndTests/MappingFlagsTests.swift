import XCTest

/// What a program asked of its mappings that smaps shows as VmFlags and
/// only the program could ask again: KSM merging (madvise MADV_MERGEABLE,
/// "mg") and a seal (mseal, "sl", which must also still refuse munmap).
final class MappingFlagsTests: EndToEndCase {
    func testMergeableAndSealedMappingsKeepTheirFlags() throws {
        let program = try startPython("mapping-flags", """
            import ctypes, time
            libc = ctypes.CDLL(None, use_errno=True)
            libc.mmap.restype = ctypes.c_void_p
            libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
            size = 1 << 20
            mergeable = libc.mmap(None, size, 3, 0x22, -1, 0)
            sealed = libc.mmap(None, size, 1, 0x22, -1, 0)
            if libc.madvise(ctypes.c_void_p(mergeable), ctypes.c_size_t(size), 12) != 0:
                print("FAIL: MADV_MERGEABLE refused", ctypes.get_errno(), flush=True)
            if libc.syscall(462, ctypes.c_ulong(sealed), ctypes.c_ulong(size), 0) != 0:
                print("FAIL: mseal refused", ctypes.get_errno(), flush=True)
            def flags(address):
                lines = open("/proc/self/smaps").read().split("\\n")
                start = [i for i, l in enumerate(lines) if l.startswith("%x-" % address)][0]
                return [l for l in lines[start:] if l.startswith("VmFlags:")][0].split()[1:]
            print("ready", flush=True)
            n = 0
            while True:
                n += 1
                refused = libc.munmap(ctypes.c_void_p(sealed), ctypes.c_size_t(size)) != 0 and ctypes.get_errno() == 1
                print("tick", n, "mergeable", "mg" in flags(mergeable), "sealed", "sl" in flags(sealed), "munmap-refused", refused, flush=True)
                time.sleep(0.05)
            """)
        try program.waitFor("tick", atLeast: 2)
        let (_, mark) = try roundTrip(program)
        try program.waitForMore("tick", 3, after: mark)
        let lines = program.log.lines().filter { $0.hasPrefix("tick ") }
        XCTAssertFalse(lines.isEmpty)
        for line in lines {
            XCTAssertTrue(line.hasSuffix(" mergeable True sealed True munmap-refused True"), line)
        }
        assertNoFailures(program)
    }

    /// A thousand mappings of alternating protections, every other one
    /// written, come back one VMA each with their bytes (the restore maps
    /// and protects them in batches of injected calls).
    func testManyVMAsOfAlternatingProtectionsComeBackOneEach() throws {
        let program = try startPython("alternating", """
            import ctypes, time
            libc = ctypes.CDLL(None, use_errno=True)
            libc.mmap.restype = ctypes.c_void_p
            libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
            page = 4096
            base = libc.mmap(None, 1000 * page, 0, 0x22, -1, 0)
            for i in range(1000):
                libc.mmap(ctypes.c_void_p(base + i * page), page, 3 if i % 2 == 0 else 1, 0x32, -1, 0)
                if i % 2 == 0:
                    ctypes.memset(base + i * page, i % 251, 1)
            def region():
                starts = [int(l.split("-")[0], 16) for l in open("/proc/self/maps")]
                ok = all(ctypes.c_ubyte.from_address(base + i * page).value == i % 251 for i in range(0, 1000, 2))
                return sum(base <= s < base + 1000 * page for s in starts), ok
            print("ready", flush=True)
            n = 0
            while True:
                n += 1
                vmas, ok = region()
                print("tick", n, "vmas", vmas, "contents", ok, flush=True)
                time.sleep(0.05)
            """)
        try program.waitFor("tick", atLeast: 2)
        let expected = " vmas 1000 contents True"
        XCTAssertTrue(try XCTUnwrap(program.log.lines().last { $0.hasPrefix("tick ") }).hasSuffix(expected))
        let (_, mark) = try roundTrip(program)
        try program.waitForMore("tick", 3, after: mark)
        for line in program.log.lines().dropFirst(mark).filter({ $0.hasPrefix("tick ") }) {
            XCTAssertTrue(line.hasSuffix(expected), line)
        }
        assertNoFailures(program)
    }
}
