import Ptrace
import XCTest

/// The multi-line fdinfo of epoll and inotify, and mountinfo, as the
/// kernel prints them (samples from a 6.18 kernel).
final class PollingFdInfoTests: XCTestCase {
    func testEpollWatches() throws {
        let text = """
        pos:\t0
        flags:\t02
        mnt_id:\t17
        ino:\t1038
        tfd:        5 events: 80000019 data: 1122334455667788  pos:0 ino:20f9d sdev:9
        tfd:       16 events:       1c data:                7  pos:0 ino:20f9e sdev:9

        """
        let watches = try EpollInfo.parse(text)
        XCTAssertEqual(watches, [
            EpollWatch(fd: 5, events: 0x8000_0019, data: 0x1122_3344_5566_7788, inode: 0x20f9d, device: 9),
            EpollWatch(fd: 16, events: 0x1c, data: 7, inode: 0x20f9e, device: 9),
        ])
    }

    func testBadEpollLineNamesTheFile() {
        XCTAssertThrowsError(try EpollInfo.parse("tfd: x events: 1 data: 0 ino:1\n", file: "/proc/1/fdinfo/3")) { error in
            XCTAssertTrue("\(error)".contains("/proc/1/fdinfo/3"), "\(error)")
        }
    }

    func testInotifyWatchesInHexAndSortedByWd() throws {
        let text = """
        pos:\t0
        flags:\t00
        inotify wd:12 ino:13 sdev:fe00000 mask:2 ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:1300000000000000
        inotify wd:1 ino:3df9d sdev:fe00001 mask:80000100 ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:9ddf030000000000

        """
        let watches = try InotifyInfo.parse(text)
        XCTAssertEqual(watches.map(\.wd), [1, 0x12])
        XCTAssertEqual(watches[0].mask, 0x8000_0100)
        XCTAssertEqual(watches[0].deviceMajor, 254)
        XCTAssertEqual(watches[0].deviceMinor, 1)
        XCTAssertEqual(watches[0].handleType, 1)
        XCTAssertEqual(watches[0].handle, [0x9d, 0xdf, 0x03, 0, 0, 0, 0, 0])
        XCTAssertEqual(watches[1].inode, 0x13)
    }

    func testMountInfoWithEscapedPaths() throws {
        let text = """
        22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
        36 22 0:41 /sub /mnt/with\\040space ro,nosuid shared:4 master:2 - tmpfs my\\040tmp rw,size=1024k

        """
        let mounts = try MountTable.parse(text)
        XCTAssertEqual(mounts, [
            MountEntry(id: 22, parentID: 1, major: 254, minor: 0, root: "/", mountPoint: "/", fsType: "ext4", superOptions: ["rw"],
                       mountOptions: ["rw", "relatime"], propagation: ["shared:1"], source: "/dev/vda"),
            MountEntry(id: 36, parentID: 22, major: 0, minor: 41, root: "/sub", mountPoint: "/mnt/with space", fsType: "tmpfs",
                       superOptions: ["rw", "size=1024k"], mountOptions: ["ro", "nosuid"], propagation: ["shared:4", "master:2"], source: "my tmp"),
        ])
    }
}
