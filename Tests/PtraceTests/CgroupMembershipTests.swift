import Ptrace
import XCTest

/// /proc/PID/cgroup lines, and where each cgroup is among the mounts.
final class CgroupMembershipTests: XCTestCase {
    let mounts = try! MountTable.parse("""
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
        35 31 0:32 /process_api /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
        40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
        """)

    func testParsesEveryKindOfLine() throws {
        let lines = try CgroupMembership.parse("9:name=systemd:/\n4:memory:/process_api/a\n2:cpu,cpuacct:/jobs\n0::/jobs/web\n")
        XCTAssertEqual(lines, [
            CgroupMembership(controllers: "name=systemd", path: "/"),
            CgroupMembership(controllers: "memory", path: "/process_api/a"),
            CgroupMembership(controllers: "cpu,cpuacct", path: "/jobs"),
            CgroupMembership(controllers: "", path: "/jobs/web"),
        ])
        XCTAssertThrowsError(try CgroupMembership.parse("memory:/x\n"))
        XCTAssertThrowsError(try CgroupMembership.parse("4:memory:relative\n"))
    }

    func testMountsTellTheFileSystemAndItsOptions() {
        XCTAssertEqual(mounts[1].fsType, "cgroup")
        XCTAssertEqual(mounts[1].superOptions, ["rw", "cpu", "cpuacct"])
        XCTAssertEqual(mounts[4].fsType, "cgroup2")
    }

    func testPlainPathsOnly() {
        for good in ["/", "/jobs", "/process_api/a/b"] {
            XCTAssertTrue(CgroupMembership(controllers: "", path: good).hasPlainPath, good)
        }
        for bad in ["relative", "/../../etc", "/jobs/../..", "/a/./b", "/a//b", "/a/"] {
            XCTAssertFalse(CgroupMembership(controllers: "", path: bad).hasPlainPath, bad)
        }
    }

    func testDirectoryOfEachHierarchy() {
        XCTAssertEqual(CgroupMembership(controllers: "cpu,cpuacct", path: "/jobs").directory(in: mounts), "/sys/fs/cgroup/cpu,cpuacct/jobs")
        XCTAssertEqual(CgroupMembership(controllers: "name=systemd", path: "/").directory(in: mounts), "/sys/fs/cgroup/systemd")
        XCTAssertEqual(CgroupMembership(controllers: "", path: "/jobs/web").directory(in: mounts), "/sys/fs/cgroup/unified/jobs/web")
        // A mount of a subtree reaches only what is below its root.
        XCTAssertEqual(CgroupMembership(controllers: "memory", path: "/process_api/a").directory(in: mounts), "/sys/fs/cgroup/memory/a")
        XCTAssertNil(CgroupMembership(controllers: "memory", path: "/elsewhere").directory(in: mounts))
        XCTAssertNil(CgroupMembership(controllers: "pids", path: "/").directory(in: mounts), "no mount of that hierarchy")
    }
}
