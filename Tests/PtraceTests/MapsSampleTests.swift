import Ptrace
import XCTest

/// /proc/PID/maps and smaps text as Linux 6.18 prints it, parsed from fixed samples.
final class MapsSampleTests: XCTestCase {
    // Anonymous lines end in the single space the kernel always writes after the inode.
    static let maps = """
    55d0c8a00000-55d0c8a02000 r--p 00000000 fe:00 332801                     /usr/bin/sleep
    55d0c8a02000-55d0c8a06000 r-xp 00002000 fe:00 332801                     /usr/bin/sleep
    55d0c9a10000-55d0c9a31000 rw-p 00000000 00:00 0                          [heap]
    7f11bbe00000-7f11bbe01000 rw-s 00002000 00:2d 2050                       /tmp/dir with spaces/data file (1).bin
    7f11bbe01000-7f11bbe02000 r--s 00000000 00:2d 2051                       /tmp/gone file.bin (deleted)
    7f11bbe02000-7f11bbe04000 rw-s 00000000 00:01 3072                       /memfd:ring buffer (deleted)
    7f11bbe04000-7f11bbe08000 rw-p 00000000 00:00 0 
    7f11bbe08000-7f11bbe09000 ---p 00000000 00:00 0
    7f11bbe09000-7f11bbe0a000 rw-p 00000000 00:00 0                          [anon:jit cache]
    7f11bbfb1000-7f11bbfb5000 r--p 00000000 00:00 0                          [vvar]
    7f11bbfb5000-7f11bbfb7000 r--p 00000000 00:00 0                          [vvar_vclock]
    7f11bbfb7000-7f11bbfb9000 r-xp 00000000 00:00 0                          [vdso]
    7ffe9ec5d000-7ffe9ec7e000 rw-p 00000000 00:00 0                          [stack]
    ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]

    """

    func testEveryLineBecomesOneEntryInOrder() throws {
        let entries = try Maps.parse(Self.maps)
        XCTAssertEqual(entries.count, 14)
        XCTAssertEqual(entries.map(\.start), entries.map(\.start).sorted())
        XCTAssertEqual(entries.map(\.protectionString),
                       ["r--p", "r-xp", "rw-p", "rw-s", "r--s", "rw-s", "rw-p", "---p", "rw-p", "r--p", "r--p", "r-xp", "rw-p", "--xp"])
    }

    func testFileMappingFields() throws {
        let e = try Maps.parse(Self.maps)[1]
        XCTAssertEqual(e.start, 0x55d0_c8a0_2000)
        XCTAssertEqual(e.end, 0x55d0_c8a0_6000)
        XCTAssertEqual(e.size, 0x4000)
        XCTAssertEqual(e.pageCount, 4)
        XCTAssertTrue(e.read)
        XCTAssertFalse(e.write)
        XCTAssertTrue(e.execute)
        XCTAssertFalse(e.shared)
        XCTAssertEqual(e.offset, 0x2000)
        XCTAssertEqual(e.device, "fe:00")
        XCTAssertEqual(e.inode, 332801)
        XCTAssertEqual(e.path, "/usr/bin/sleep")
        XCTAssertTrue(e.isFileBacked)
        XCTAssertFalse(e.isSpecial)
        XCTAssertFalse(e.isDeleted)
        XCTAssertEqual(e.flags, [], "maps alone carries no VmFlags")
    }

    func testPathWithSpacesAndParenthesesIsKeptWhole() throws {
        let e = try Maps.parse(Self.maps)[3]
        XCTAssertEqual(e.path, "/tmp/dir with spaces/data file (1).bin")
        XCTAssertTrue(e.shared)
        XCTAssertEqual(e.offset, 0x2000)
        XCTAssertEqual(e.device, "00:2d")
        XCTAssertFalse(e.isDeleted)
        XCTAssertTrue(e.isFileBacked)
    }

    func testDeletedFileAndMemfd() throws {
        let entries = try Maps.parse(Self.maps)
        let gone = entries[4], memfd = entries[5]
        XCTAssertEqual(gone.path, "/tmp/gone file.bin (deleted)")
        XCTAssertTrue(gone.isDeleted)
        XCTAssertTrue(gone.isFileBacked)
        XCTAssertEqual(memfd.path, "/memfd:ring buffer (deleted)")
        XCTAssertTrue(memfd.isDeleted)
        XCTAssertTrue(memfd.isFileBacked)
        XCTAssertEqual(memfd.inode, 3072)
        XCTAssertEqual(memfd.pageCount, 2)
    }

    func testAnonymousMappingsHaveNoPath() throws {
        XCTAssertTrue(Self.maps.contains("7f11bbe08000 rw-p 00000000 00:00 0 \n"), "sample keeps the kernel's trailing space")
        let entries = try Maps.parse(Self.maps)
        for e in [entries[6], entries[7]] {
            XCTAssertNil(e.path, "\(e)")
            XCTAssertEqual(e.inode, 0)
            XCTAssertEqual(e.device, "00:00")
            XCTAssertFalse(e.isFileBacked)
            XCTAssertFalse(e.isSpecial)
            XCTAssertFalse(e.isDeleted)
        }
        XCTAssertFalse(entries[7].read || entries[7].write || entries[7].execute)
    }

    func testBracketedPseudoMappings() throws {
        let entries = try Maps.parse(Self.maps)
        let special = entries.filter(\.isSpecial).compactMap(\.path)
        XCTAssertEqual(special, ["[heap]", "[anon:jit cache]", "[vvar]", "[vvar_vclock]", "[vdso]", "[stack]", "[vsyscall]"])
        for e in entries where e.isSpecial {
            XCTAssertFalse(e.isFileBacked, e.path ?? "")
        }
        let vsyscall = entries[13]
        XCTAssertEqual(vsyscall.start, 0xffff_ffff_ff60_0000)
        XCTAssertEqual(vsyscall.end, 0xffff_ffff_ff60_1000)
        XCTAssertTrue(vsyscall.execute)
        XCTAssertFalse(vsyscall.read)
    }

    func testEmptyTextHasNoEntries() throws {
        XCTAssertEqual(try Maps.parse(""), [])
        XCTAssertEqual(try Maps.parse("\n\n"), [])
    }

    func testTrailingSpacesInAPathAreKept() throws {
        let e = try Maps.parse("1000-2000 r--p 00000000 08:01 12 /tmp/name ends in space \n")[0]
        XCTAssertEqual(e.path, "/tmp/name ends in space ")
    }

    static let smaps = """
    55d0c8a02000-55d0c8a06000 r-xp 00002000 fe:00 332801                     /usr/bin/sleep
    Size:                 16 kB
    KernelPageSize:        4 kB
    MMUPageSize:           4 kB
    Rss:                  12 kB
    Pss:                  12 kB
    Swap:                  0 kB
    THPeligible:           0
    VmFlags: rd ex mr mw me sd 
    7f11bbe00000-7f11bbe01000 rw-s 00002000 00:2d 2050                       /tmp/dir with spaces/data file (1).bin
    Size:                  4 kB
    Rss:                   4 kB
    Shared_Dirty:          4 kB
    Swap:                  0 kB
    VmFlags: rd wr sh mr mw me ms sd 
    7f11bbe04000-7f11bbe08000 rw-p 00000000 00:00 0 
    Size:                 16 kB
    Rss:                   8 kB
    Anonymous:             8 kB
    Swap:                  8 kB
    SwapPss:               8 kB
    VmFlags: rd wr mr mw me dc ac sd 
    7f11bbfb5000-7f11bbfb7000 r--p 00000000 00:00 0                          [vvar_vclock]
    Size:                  8 kB
    Rss:                   0 kB
    VmFlags: rd mr pf io de dd 
    7ffe9ec5d000-7ffe9ec7e000 rw-p 00000000 00:00 0                          [stack]
    Size:                132 kB
    Rss:                  20 kB
    Swap:                  0 kB
    ProtectionKey:         0
    VmFlags: rd wr mr mw me gd ac 
    7f11bc000000-7f11bc001000 r--p 00000000 00:00 0 
    Size:                  4 kB
    Rss:                   0 kB

    """

    func testSmapsBlocksAreKeyedByStartAddress() {
        let details = Smaps.parse(Self.smaps)
        XCTAssertEqual(Set(details.keys), [0x55d0_c8a0_2000, 0x7f11_bbe0_0000, 0x7f11_bbe0_4000, 0x7f11_bbfb_5000,
                                          0x7ffe_9ec5_d000, 0x7f11_bc00_0000])
    }

    func testSmapsFlagsResidentAndSwap() {
        let details = Smaps.parse(Self.smaps)
        let text = details[0x55d0_c8a0_2000]
        XCTAssertEqual(text?.flags, ["rd", "ex", "mr", "mw", "me", "sd"])
        XCTAssertEqual(text?.residentKiB, 12)
        XCTAssertEqual(text?.swapKiB, 0)
        XCTAssertEqual(details[0x7f11_bbe0_0000]?.flags, ["rd", "wr", "sh", "mr", "mw", "me", "ms", "sd"])
        let anon = details[0x7f11_bbe0_4000]
        XCTAssertEqual(anon?.flags, ["rd", "wr", "mr", "mw", "me", "dc", "ac", "sd"])
        XCTAssertEqual(anon?.residentKiB, 8)
        XCTAssertEqual(anon?.swapKiB, 8, "SwapPss must not be taken for Swap")
        XCTAssertEqual(anon?.anonymousKiB, 8)
        XCTAssertEqual(text?.anonymousKiB, 0, "no Anonymous line, none counted")
        XCTAssertEqual(details[0x7f11_bbfb_5000]?.flags, ["rd", "mr", "pf", "io", "de", "dd"])
        XCTAssertEqual(details[0x7ffe_9ec5_d000]?.flags.contains("gd"), true)
        XCTAssertEqual(details[0x7ffe_9ec5_d000]?.residentKiB, 20)
    }

    func testSmapsBlockWithoutVmFlagsHasEmptyDetail() {
        let detail = Smaps.parse(Self.smaps)[0x7f11_bc00_0000]
        XCTAssertNotNil(detail)
        XCTAssertEqual(detail?.flags, [])
        XCTAssertEqual(detail?.residentKiB, 0)
        XCTAssertEqual(detail?.swapKiB, 0)
    }

    func testSmapsIgnoresKeysBeforeTheFirstHeader() {
        let details = Smaps.parse("Rss: 4 kB\nVmFlags: rd\n1000-2000 r--p 00000000 00:00 0 \nRss: 4 kB\n")
        XCTAssertEqual(Array(details.keys), [0x1000])
        XCTAssertEqual(details[0x1000]?.flags, [])
        XCTAssertEqual(details[0x1000]?.residentKiB, 4)
    }
}
