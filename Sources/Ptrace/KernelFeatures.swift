import CSupport
import Glibc

/// Run-time probes of the kernel interfaces crtool relies on. The kernel
/// headers on a build machine may be older than the running kernel, so
/// each feature is tried, not assumed.
public struct KernelFeature: Sendable {
    public var name: String
    /// Whether crtool cannot work without it.
    public var required: Bool
    public var available: Bool
    public var detail: String

    public init(name: String, required: Bool, available: Bool, detail: String) {
        self.name = name
        self.required = required
        self.available = available
        self.detail = detail
    }
}

public enum KernelFeatures {
    public static func probeAll() -> [KernelFeature] {
        [
            probe("ptrace seize/interrupt and register access", required: true) { probeSeize() },
            probe("clone3 with set_tid (restore with the same PIDs)", required: true) {
                let r = cr_syscall6(Int(Syscall.clone3), 0, 0, 0, 0, 0, 0)
                return r == -1 && errno == ENOSYS ? (false, "clone3 is missing") : (true, "")
            },
            probe("process_vm_readv/writev", required: true) {
                var value: UInt64 = 0x1234_5678
                let ok = (try? RemoteMemory(pid: getpid()).read(at: UInt64(UInt(bitPattern: withUnsafePointer(to: &value) { UnsafeRawPointer($0) })), count: 8)) != nil
                return (ok, ok ? "" : "reading our own memory failed")
            },
            probe("/proc/PID/pagemap", required: true) {
                let ok = (try? Pagemap(pid: getpid()).entries(at: 0x400000, count: 1)) != nil
                return (ok, "")
            },
            probe("PR_SET_MM_MAP (restore mm layout and exe link)", required: true) {
                var size: UInt32 = 0
                let r = prctlCall(35, 15, UInt64(UInt(bitPattern: withUnsafeMutablePointer(to: &size) { UnsafeMutableRawPointer($0) })))
                return (r == 0 && size > 0, r == 0 ? "struct size \(size)" : String(cString: strerror(errno)))
            },
            probe("PTRACE_GET_RSEQ_CONFIGURATION and rseq", required: true) {
                let r = cr_syscall6(Int(Syscall.rseq), 0, 0, 0, 0, 0, 0)
                return r == -1 && errno == ENOSYS ? (false, "rseq is missing") : (true, "")
            },
            probe("pidfd_open / pidfd_getfd", required: false) {
                let fd = cr_syscall6(Int(Syscall.pidfdOpen), UInt64(getpid()), 0, 0, 0, 0, 0)
                if fd < 0 { return (false, String(cString: strerror(errno))) }
                close(Int32(fd))
                return (true, "")
            },
            probe("process_mrelease (a dump frees the memory of the tree it kills faster)", required: false) {
                guard let handle = try? PidFD(pid: getpid()) else { return (false, "no pidfd") }
                // A live process is refused; only a missing call says ENOSYS.
                do { try handle.releaseMemory() } catch let error as SystemError where error.errno == ENOSYS {
                    return (false, "missing: the dump waits for the kernel to free it alone")
                } catch {}
                return (true, "")
            },
            probe("kcmp (shared file detection)", required: false) {
                let r = cr_syscall6(Int(Syscall.kcmp), UInt64(getpid()), UInt64(getpid()), 0, 0, 1, 0)
                return (r >= 0, r >= 0 ? "" : String(cString: strerror(errno)))
            },
            probe("packet_diag (packet sockets' memberships and rings)", required: false) {
                works(else: "packet sockets cannot be checkpointed") { _ = try PacketSocketDiag.all() }
            },
            probe("io_setup and moving an AIO ring (Linux AIO contexts)", required: false) { probeAioRingMove() },
            probe("TCP repair mode (--tcp-established)", required: false) {
                guard let fd = try? Sockets.create(family: AF_INET, type: Int32(SOCK_STREAM.rawValue)) else { return (false, "no TCP socket") }
                defer { close(fd) }
                return works(else: "established connections cannot be carried over") { try TCPRepair.enable(fd) }
            },
            probe("raw IP sockets (a half-closed TCP connection gets its peer's FIN back)", required: false) {
                works(else: "connections in CLOSE_WAIT or LAST_ACK cannot be restored") {
                    close(try Sockets.create(family: AF_INET, type: Int32(SOCK_RAW.rawValue), protocol: Int32(IPPROTO_RAW)))
                }
            },
            probe("network namespaces and SIOCGSKNS (processes with a network namespace of their own)", required: false) {
                works(else: "processes in a network namespace of their own cannot be checkpointed") {
                    let fd = try Sockets.create(family: AF_INET, type: Int32(SOCK_DGRAM.rawValue))
                    defer { close(fd) }
                    _ = try NetworkNamespace.of(socket: fd)
                    _ = try NamespaceEntry.runInNew(.net) { try Loopback.deviceNames() }
                }
            },
            probe("time namespaces and timens_offsets (processes with a time namespace of their own)", required: false) {
                works(else: "processes in a time namespace of their own cannot be checkpointed") {
                    _ = try TimeNamespaceClocks.offsets(pid: getpid())
                }
            },
            probe("nft (--network-lock nftables holds TCP packets from dump to restore)", required: false) {
                Nftables.path.map { (true, $0) } ?? (false, "missing: install nftables, or dump with --network-lock skip")
            },
            probe("userfaultfd (lazy pages)", required: false) {
                let fd = cr_syscall6(323, 0x80000 | 1, 0, 0, 0, 0, 0) // O_CLOEXEC | UFFD_USER_MODE_ONLY
                if fd < 0 { return (false, String(cString: strerror(errno))) }
                close(Int32(fd))
                return (true, "")
            },
            probe("write tracking without soft-dirty (pre-dump: userfaultfd asynchronous write protection, PAGEMAP_SCAN)", required: false) {
                works(else: "pre-dump cannot tell what was written after it") { try probeWriteTracking() }
            },
            probe("MADV_COLLAPSE (memory that was in transparent huge pages comes back in them)", required: false) {
                works(else: "such memory comes back in small pages, with a warning") { try probeCollapse() }
            },
            probe("soft-dirty page tracking", required: false) {
                let ok = probeSoftDirty()
                return (ok, ok ? "" : "absent; PAGEMAP_SCAN write-protection is used instead")
            },
            probe("CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN", required: true) {
                let eff = capabilityMask()
                let ok = eff & (1 << 40) != 0 || eff & (1 << 21) != 0
                return (ok, ok ? "" : "run crtool as root")
            },
            probe("CAP_SYS_RESOURCE (raise hard limits on restore)", required: false) {
                let ok = capabilityMask() & (1 << 24) != 0
                return (ok, ok ? "" : "absent; limits above crtool's own are kept at crtool's")
            },
        ]
    }

    /// Tracks a page of crtool's own, writes it, and asks which pages are
    /// unwritten: none, if the whole mechanism works.
    static func probeWriteTracking() throws {
        let fd = cr_syscall6(Int(Syscall.userfaultfd), WriteTracker.creationFlags, 0, 0, 0, 0, 0)
        guard fd >= 0 else { throw SystemError("userfaultfd", errno: errno) }
        let tracker = try WriteTracker(adopting: Int32(fd), pid: getpid())
        let page = try AnonymousMapping(size: 2 * 4096)
        let base = UnsafeMutableRawPointer(bitPattern: UInt(page.address))!
        base.storeBytes(of: 1, as: UInt8.self)
        (base + 4096).storeBytes(of: 1, as: UInt8.self)
        let range = page.address..<(page.address + 2 * 4096)
        try tracker.track(range)
        base.storeBytes(of: 2, as: UInt8.self)
        let unwritten = try Pagemap(pid: getpid()).unwritten(in: range)
        guard unwritten == [(page.address + 4096)..<(page.address + 2 * 4096)] else {
            throw SystemError("PAGEMAP_SCAN reported \(unwritten.count) unwritten runs where one page was written and one not", errno: EINVAL)
        }
    }

    /// Makes one written page of crtool's own into a huge page, as a
    /// restore does with what was huge at the dump.
    static func probeCollapse() throws {
        let huge = 2 << 20
        let region = try AnonymousMapping(size: 2 * huge)
        let start = (region.address + UInt64(huge) - 1) & ~UInt64(huge - 1)
        let base = UnsafeMutableRawPointer(bitPattern: UInt(start))!
        base.storeBytes(of: 1, as: UInt8.self)
        if madvise(base, huge, 25) != 0 { throw SystemError("madvise(MADV_COLLAPSE)", errno: errno) } // MADV_COLLAPSE
    }

    /// A probe that tries `body`: available if it throws nothing, else the
    /// errno and what its absence means for crtool.
    static func works(else consequence: String, _ body: () throws -> Void) -> (Bool, String) {
        do {
            try body()
            return (true, "")
        } catch let e as SystemError {
            return (false, "\(e.errnoName): \(consequence)")
        } catch {
            return (false, "\(error)")
        }
    }

    static func probe(_ name: String, required: Bool, _ body: () -> (Bool, String)) -> KernelFeature {
        let (ok, detail) = body()
        return KernelFeature(name: name, required: required, available: ok, detail: detail)
    }

    static func prctlCall(_ option: UInt64, _ a2: UInt64, _ a3: UInt64) -> Int {
        cr_syscall6(Int(Syscall.prctl), option, a2, a3, 0, 0, 0)
    }

    static func capabilityMask() -> UInt64 {
        (try? ProcStatus.read(pid: getpid()).capEffective) ?? 0
    }

    /// Clears soft-dirty bits, writes a page, and looks for bit 55 in its
    /// pagemap entry: the clear_refs file accepts "4" even on kernels built
    /// without soft-dirty, so only the bit itself tells.
    static func probeSoftDirty() -> Bool {
        guard let page = mmap(nil, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), page != MAP_FAILED else { return false }
        defer { munmap(page, 4096) }
        page.storeBytes(of: 1, as: UInt8.self)
        let fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        _ = write(fd, "4", 1)
        close(fd)
        page.storeBytes(of: 2, as: UInt8.self)
        guard let entry = try? Pagemap(pid: getpid()).entries(at: UInt64(UInt(bitPattern: page)), count: 1).first else { return false }
        return entry & (1 << 55) != 0
    }

    /// A restore makes each AIO context with io_setup and moves its ring to
    /// the recorded address (the context's id): both are tried on a
    /// context of crtool's own, with the room fs.aio-max-nr leaves.
    static func probeAioRingMove() -> (Bool, String) {
        var context: UInt64 = 0
        let made = withUnsafeMutablePointer(to: &context) { cr_syscall6(Int(Syscall.ioSetup), 1, UInt64(UInt(bitPattern: $0)), 0, 0, 0, 0) }
        if made < 0 { return (false, "io_setup: \(String(cString: strerror(errno)))") }
        // A ring of P pages has 128 P - 1 slots of 32 bytes after a 32-byte header.
        let slots = UnsafePointer<UInt32>(bitPattern: UInt(context) + 4)?.pointee ?? 0
        let size = Int(slots + 1) * 32
        guard let spot = mmap(nil, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), spot != MAP_FAILED else {
            _ = cr_syscall6(Int(Syscall.ioDestroy), context, 0, 0, 0, 0, 0)
            return (false, "mmap: \(String(cString: strerror(errno)))")
        }
        let to = UInt64(UInt(bitPattern: spot))
        let moved = cr_syscall6(Int(Syscall.mremap), context, UInt64(size), UInt64(size), 3, to, 0) // MAYMOVE|FIXED
        let detail = moved < 0 ? "mremap of the ring: \(String(cString: strerror(errno)))" : ""
        let destroyed = cr_syscall6(Int(Syscall.ioDestroy), moved < 0 ? context : to, 0, 0, 0, 0, 0)
        if moved < 0 { munmap(spot, size) }
        if moved >= 0 && destroyed < 0 { return (false, "io_destroy after the move: \(String(cString: strerror(errno)))") }
        return (moved >= 0, moved < 0 ? detail : AioLimits.room)
    }

    /// Seizes a short-lived child, interrupts it, reads its registers.
    static func probeSeize() -> (Bool, String) {
        let child = fork()
        if child == 0 {
            while true { pause() }
        }
        if child < 0 { return (false, "fork failed") }
        defer {
            kill(child, SIGKILL)
            var status: Int32 = 0
            waitpid(child, &status, 0)
        }
        do {
            let t = try Tracee.seize(tid: child, pid: child, options: [])
            try t.interrupt()
            _ = try t.waitStop()
            _ = try t.registers()
            _ = try t.extendedState()
            return (true, "")
        } catch {
            return (false, "\(error)")
        }
    }
}
