import Glibc
import XCTest

/// NUMA memory policies: the main thread's (interleave), a second
/// thread's (preferred) and a range's own (bind with static nodes, set by
/// mbind) are back after the restore, each where it was: the program asks
/// get_mempolicy for all three every tick and fails on any change. This
/// host has one node; the policies name it.
final class MemoryPolicyTests: EndToEndCase {
    func testThreadAndRangePoliciesComeBack() throws {
        let program = try startPython("numa", """
            import ctypes, mmap, threading, time
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall.restype = ctypes.c_long
            def policy(addr=None):
                mode = ctypes.c_int(); mask = (ctypes.c_ulong * 16)()
                r = libc.syscall(239, ctypes.byref(mode), mask, 1024, ctypes.c_void_p(addr) if addr else None, 2 if addr else 0)
                return (r, mode.value, mask[0])
            one = (ctypes.c_ulong * 16)(1)
            assert libc.syscall(238, 3, one, 1024) == 0, ctypes.get_errno()         # MPOL_INTERLEAVE on node 0
            m = mmap.mmap(-1, 1 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
            addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
            assert libc.syscall(237, ctypes.c_void_p(addr), 1 << 20, 2 | (1 << 15), one, 1024, 0) == 0, ctypes.get_errno()  # MPOL_BIND | STATIC
            m[0:4] = b"data"
            expected = {}
            def worker():
                assert libc.syscall(238, 1, one, 1024) == 0                          # MPOL_PREFERRED
                expected["worker"] = policy()
                n = 0
                while True:
                    time.sleep(0.05); n += 1
                    if policy() != expected["worker"]: print("FAIL: worker policy", policy(), expected["worker"], flush=True)
            threading.Thread(target=worker, daemon=True).start()
            time.sleep(0.1)
            expected["main"] = policy(); expected["vma"] = policy(addr)
            print("policies", expected, flush=True)
            print("ready", flush=True)
            n = 0
            while True:
                time.sleep(0.05); n += 1
                now = {"main": policy(), "vma": policy(addr), "worker": expected["worker"]}
                print("tick", n, "ok" if now == expected else "FAIL: %s" % now, flush=True)
            """)
        let policies = try XCTUnwrap(program.log.lines().first { $0.hasPrefix("policies ") })
        XCTAssertTrue(policies.contains("'main': (0, 3, 1)") && policies.contains("'worker': (0, 1, 1)") && policies.contains("'vma': (0, 32770, 1)"), policies)
        try program.waitFor("tick", atLeast: 2)
        let (_, mark) = try roundTrip(program)
        try program.waitForMore("tick", 5, after: mark)
        assertNoFailures(program)
    }
}
