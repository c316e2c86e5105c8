import Glibc
import XCTest

/// memfds held as descriptors, as compositors' clients, journald and
/// browsers use them: one both held and mapped (a shared buffer written
/// through the mapping and read through the descriptor, and the other
/// way round), sealed against shrinking and growing; another held only.
/// After the restore the descriptor and the mapping must still be one
/// file, and every memfd must have its seals.
final class MemfdTests: EndToEndCase {
    func testHeldAndMappedMemfdStaysOneFileWithItsSeals() throws {
        let program = try startPython("memfd-pool", """
            import fcntl, mmap, os, time
            F_ADD_SEALS, F_GET_SEALS, F_SEAL_SHRINK, F_SEAL_GROW = 1033, 1034, 2, 4
            pool = os.memfd_create("pool", os.MFD_ALLOW_SEALING)
            os.ftruncate(pool, 65536)
            view = mmap.mmap(pool, 65536)
            fcntl.fcntl(pool, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW)
            plain = os.memfd_create("plain", 0)
            os.write(plain, b"held only")
            def mapped_inode():
                for line in open("/proc/self/maps"):
                    if "/memfd:pool" in line:
                        return int(line.split()[4])
            print("ready", flush=True)
            n = 0
            while True:
                n += 1
                view[0:8] = b"%08d" % n
                if os.pread(pool, 8, 0) != b"%08d" % n:
                    print("FAIL: the descriptor reads", os.pread(pool, 8, 0), "after the mapping wrote", n, flush=True)
                os.pwrite(pool, b"%08d" % (n * 7), 8)
                if view[8:16] != b"%08d" % (n * 7):
                    print("FAIL: the mapping reads", view[8:16], "after the descriptor wrote", n * 7, flush=True)
                if mapped_inode() != os.fstat(pool).st_ino:
                    print("FAIL: the mapping and the descriptor are different files", flush=True)
                if os.pread(plain, 100, 0) != b"held only":
                    print("FAIL: the held memfd holds", os.pread(plain, 100, 0), flush=True)
                print("tick", n, "seals", fcntl.fcntl(pool, F_GET_SEALS), fcntl.fcntl(plain, F_GET_SEALS), flush=True)
                time.sleep(0.05)
            """)
        try program.waitFor("tick", atLeast: 3)
        let sealsBefore = try XCTUnwrap(program.log.lines().last { $0.hasPrefix("tick ") }?.split(separator: " ").suffix(2).joined(separator: " "))
        XCTAssertEqual(sealsBefore, "6 1", "F_SEAL_SHRINK|F_SEAL_GROW on the pool; F_SEAL_SEAL on a memfd made without MFD_ALLOW_SEALING")

        let (_, mark) = try roundTrip(program)
        try program.waitForMore("tick", 5, after: mark)
        let after = program.log.lines().dropFirst(mark).filter { $0.hasPrefix("tick ") }
        XCTAssertFalse(after.isEmpty)
        for line in after {
            XCTAssertTrue(line.hasSuffix(" seals \(sealsBefore)"), "seals after the restore: \(line)")
        }
        assertNoFailures(program)
    }
}
