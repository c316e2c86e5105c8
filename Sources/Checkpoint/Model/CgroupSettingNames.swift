/// The control files of a cgroup that a dump saves and a restore writes:
/// the ones a user or a runtime sets (limits, weights, CPU and memory
/// node lists), not counters or files the kernel fills. Files that name a
/// device (io.max, blkio.throttle.*) are left out, their device numbers
/// being this host's; so are the devices controller's rules, a cgroup made
/// below another taking its parent's. A hostile image can name no other
/// file: the restore refuses any setting not listed here.
enum CgroupSettingNames {
    /// Written first: a v1 cpuset cgroup without CPUs and memory nodes
    /// takes no process, and a cgroup's own controllers are enabled before
    /// the cgroups below it are made.
    static let unified = [
        "cgroup.subtree_control", "cgroup.max.descendants", "cgroup.max.depth",
        "cpuset.cpus", "cpuset.mems",
        "cpu.weight", "cpu.max", "cpu.max.burst", "cpu.idle", "cpu.uclamp.min", "cpu.uclamp.max",
        "memory.min", "memory.low", "memory.high", "memory.max", "memory.swap.high", "memory.swap.max",
        "memory.zswap.max", "memory.zswap.writeback", "memory.oom.group",
        "pids.max",
    ]

    /// A v1 hierarchy's, by controller.
    static let byController: [String: [String]] = [
        "cpuset": [
            "cpuset.cpus", "cpuset.mems", "cpuset.cpu_exclusive", "cpuset.mem_exclusive", "cpuset.mem_hardwall",
            "cpuset.memory_migrate", "cpuset.memory_spread_page", "cpuset.memory_spread_slab",
            "cpuset.sched_load_balance", "cpuset.sched_relax_domain_level",
        ],
        "cpu": ["cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.cfs_burst_us", "cpu.idle", "cpu.uclamp.min", "cpu.uclamp.max"],
        "memory": ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes", "memory.swappiness"],
        "pids": ["pids.max"],
        "blkio": ["blkio.weight", "blkio.bfq.weight"],
        "net_cls": ["net_cls.classid"],
    ]

    /// The files a hierarchy with `controllers` ("" for the unified one)
    /// may have, in the order to write them; hugetlb's, named by page
    /// size, are matched by `isHugePageLimit` instead.
    static func names(for controllers: String) -> [String] {
        controllers.isEmpty ? unified : controllers.split(separator: ",").flatMap { byController[String($0)] ?? [] }
    }

    static func isKnown(_ name: String, controllers: String) -> Bool {
        names(for: controllers).contains(name) || isHugePageLimit(name, controllers: controllers)
    }

    /// hugetlb.2MB.max (unified) or hugetlb.2MB.limit_in_bytes (v1).
    static func isHugePageLimit(_ name: String, controllers: String) -> Bool {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "hugetlb",
              controllers.isEmpty || controllers.split(separator: ",").contains("hugetlb") else { return false }
        let size = parts[1]
        guard let unit = size.dropLast().last, size.hasSuffix("B"), "KMG".contains(unit),
              size.dropLast(2).count > 0, size.dropLast(2).allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
        return parts[2] == (controllers.isEmpty ? "max" : "limit_in_bytes")
    }

    /// A value the kernel could have shown and a write can take: one
    /// line of printable ASCII, short.
    static func isPlainValue(_ value: String) -> Bool {
        value.utf8.count <= 512 && value.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7f }
    }
}
