import Foundation
import Ptrace

/// Makes a process's AIO contexts again, once its other VMAs are mapped.
/// The context's id is its ring's address, which programs keep, so the
/// ring io_setup makes is moved to where the image had it (the kernel
/// follows a moved ring). The kernel's tail moves only when a request
/// completes, so the completions not yet reaped at the dump are made by
/// submitting reads of nothing from /dev/null, which complete at once,
/// and then given their recorded contents.
struct AioRingRestorer {
    let inj: RemoteSyscall
    let memory: RemoteMemory
    let pid: Int32

    /// Requests per io_submit: their iocbs and pointers fit the scratch area.
    static let batch = 128
    static let iocbSize = 64

    func restore(_ vma: VMAImage) throws {
        guard let ring = vma.aioRing else {
            throw ImageError(file: "process-\(pid).json", field: "vmas.aioRing", reason: "the AIO ring at 0x\(hex(vma.start)) has no ring state")
        }
        // Held with an inaccessible placeholder, the address cannot be
        // where io_setup puts the new ring, which mremap then replaces.
        try inj.checked("holding 0x\(hex(vma.start)) for an AIO ring", Syscall.mmap, vma.start, vma.size, 0, 0x22 | 0x100000, UInt64.max, 0)
        let context = try inj.stage([UInt8].le(UInt64(0)))
        let count = AioRingLayout.setupCount(forSize: vma.size)
        let setup = try inj.call(Syscall.ioSetup, count, context)
        if setup == -Int64(EAGAIN) {
            throw CheckpointError("pid \(pid)'s AIO context 0x\(hex(vma.start)) needs \(count) AIO events, and this host has no room for them (\(AioLimits.room))")
        }
        if setup < 0 {
            throw SystemError("injected io_setup(\(count)) for the AIO context 0x\(hex(vma.start)) in thread \(inj.tracee.tid)", pid: pid, errno: Int32(-setup))
        }
        let made = try memory.read(at: context, count: 8).le(UInt64.self, at: 0)
        let slots = try memory.read(at: made + 4, count: 4).le(UInt32.self, at: 0)
        guard slots == ring.slots else {
            _ = try? inj.call(Syscall.ioDestroy, made)
            throw CheckpointError("pid \(pid)'s AIO context 0x\(hex(vma.start)) had \(ring.slots) slots, but io_setup(\(count)) makes \(slots) on this host (more CPUs than where it was dumped)")
        }
        try inj.checked("moving the AIO ring to 0x\(hex(vma.start))", Syscall.mremap, made, vma.size, vma.size, 3, vma.start) // MAYMOVE|FIXED
        try refill(ring, at: vma.start)
    }

    private func refill(_ ring: AioRingImage, at address: UInt64) throws {
        guard ring.head > 0 || ring.completedCount > 0 else { return }
        let path = try inj.stage(string: "/dev/null", at: 0)
        let fd = try inj.checked("opening /dev/null for the AIO context 0x\(hex(address))", Syscall.openat, UInt64(bitPattern: -100), path, UInt64(O_RDONLY | O_CLOEXEC), 0)
        defer { _ = try? inj.call(Syscall.close, fd) }
        // The slots before head were reaped: completed, then taken by
        // moving head, as libaio reaps in user space, batch by batch (a
        // completion not reaped holds its slot).
        try complete(Int(ring.head), context: address, fd: fd, reaping: true)
        try complete(ring.completedCount, context: address, fd: fd, reaping: false)
        let tail = try memory.read(at: address + AioRingLayout.tailOffset, count: 4).le(UInt32.self, at: 0)
        guard tail == ring.tail else {
            throw CheckpointError("pid \(pid)'s AIO context 0x\(hex(address)): the ring's tail is \(tail) after making its completions again, not \(ring.tail)")
        }
        let bytes = [UInt8](ring.completed)
        var slot = UInt64(ring.head)
        for i in 0..<ring.completedCount {
            let event = Array(bytes[(i * AioRingLayout.eventSize)..<((i + 1) * AioRingLayout.eventSize)])
            try memory.write(event, at: address + AioRingLayout.eventOffset(slot))
            slot = (slot + 1) % UInt64(ring.slots)
        }
    }

    /// Submits `count` reads of nothing from `fd`; each completes into
    /// the ring before io_submit returns. io_submit may take fewer than
    /// asked (slots held in other CPUs' reserves) but never none while the
    /// ring has room; with `reaping`, what completed is reaped at once.
    private func complete(_ count: Int, context: UInt64, fd: UInt64, reaping: Bool) throws {
        var iocb = [UInt8].le(UInt64(0)) + [UInt8].le(UInt32(0), UInt32(0)) // aio_data; aio_key, aio_rw_flags
        iocb += [UInt8].le(UInt16(0), UInt16(0)) + [UInt8].le(UInt32(fd)) // IOCB_CMD_PREAD, aio_reqprio; aio_fildes
        iocb += [UInt8].le(UInt64(0), UInt64(0), UInt64(0), UInt64(0)) // aio_buf, aio_nbytes, aio_offset, aio_reserved2
        iocb += [UInt8].le(UInt32(0), UInt32(0)) // aio_flags, aio_resfd
        var left = count
        while left > 0 {
            let n = min(left, Self.batch)
            let iocbs = try inj.stage(Array([[UInt8]](repeating: iocb, count: n).joined()), at: 0)
            let pointers = [UInt8].le(contentsOf: (0..<n).map { iocbs + UInt64($0 * Self.iocbSize) })
            let array = try inj.stage(pointers, at: n * Self.iocbSize)
            let submitted = try inj.checked("io_submit to the AIO context 0x\(hex(context))", Syscall.ioSubmit, context, UInt64(n), array)
            guard submitted > 0 else {
                throw CheckpointError("pid \(pid)'s AIO context 0x\(hex(context)) took none of \(n) requests with \(count - left) made")
            }
            left -= Int(submitted)
            if reaping {
                try memory.write(try memory.read(at: context + AioRingLayout.tailOffset, count: 4), at: context + AioRingLayout.headOffset)
            }
        }
    }

    private func hex(_ v: UInt64) -> String { String(v, radix: 16) }
}
