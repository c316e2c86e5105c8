import Foundation
import Ptrace

/// Reads a frozen process's AIO completion rings. The ring is ordinary
/// shared memory to the program (libaio may reap from it without a system
/// call), so its header and the completions not reaped yet are read like
/// any memory; the kernel's own side (the context, requests in flight)
/// shows nowhere.
enum AioRingReader {
    static func read(_ vma: VMAImage, memory: RemoteMemory, pid: Int32) throws -> AioRingImage {
        let header = try memory.read(at: vma.start, count: AioRingLayout.headerSize)
        let slots = header.le(UInt32.self, at: 4)
        let head = header.le(UInt32.self, at: Int(AioRingLayout.headOffset))
        let tail = header.le(UInt32.self, at: Int(AioRingLayout.tailOffset))
        let magic = header.le(UInt32.self, at: 16)
        let incompatible = header.le(UInt32.self, at: 24)
        let headerLength = header.le(UInt32.self, at: 28)
        let at = "pid \(pid)'s AIO ring at 0x\(String(vma.start, radix: 16))"
        guard magic == AioRingLayout.magic, headerLength == UInt32(AioRingLayout.headerSize), incompatible == 0 else {
            throw CheckpointError("\(at) has a header this crtool does not know (magic 0x\(String(magic, radix: 16)), "
                + "header length \(headerLength), incompatible features 0x\(String(incompatible, radix: 16)))")
        }
        guard UInt64(slots) == AioRingLayout.slots(forSize: vma.size) else {
            throw CheckpointError("\(at) has \(slots) slots, which do not fill its \(vma.size) bytes: the mapping is not a whole ring")
        }
        guard head < slots, tail < slots else {
            throw CheckpointError("\(at) has head \(head) and tail \(tail), outside its \(slots) slots")
        }
        var ring = AioRingImage(slots: slots, head: head, tail: tail, completed: Data())
        // Head to tail is one run of slots, or two where it wraps.
        let count = ring.completedCount
        let first = min(count, Int(slots - head))
        var completed: [UInt8] = []
        for (slot, n) in [(UInt64(head), first), (0, count - first)] where n > 0 {
            completed += try memory.read(at: vma.start + AioRingLayout.eventOffset(slot), count: n * AioRingLayout.eventSize)
        }
        ring.completed = Data(completed)
        return ring
    }

    /// A request in flight at the freeze cannot be seen, but one finishing
    /// while the tree is frozen moves the ring's tail: read again at the
    /// end of the dump, a tail that moved means the image would lose it.
    static func requireNoCompletionsSince(_ processes: [ProcessImage], memories: [Int32: RemoteMemory]) throws {
        for p in processes {
            guard let memory = memories[p.pid] else { continue }
            for vma in p.vmas where vma.aioRing != nil { try requireTailUnmoved(vma, memory: memory, pid: p.pid) }
        }
    }

    static func requireTailUnmoved(_ vma: VMAImage, memory: RemoteMemory, pid: Int32) throws {
        guard let ring = vma.aioRing else { return }
        let tail = try memory.read(at: vma.start + AioRingLayout.tailOffset, count: 4).le(UInt32.self, at: 0)
        guard tail != ring.tail else { return }
        let moved = (UInt64(tail) + UInt64(ring.slots) - UInt64(ring.tail)) % UInt64(max(ring.slots, 1))
        throw CheckpointError("pid \(pid)'s AIO context 0x\(String(vma.start, radix: 16)) had requests in flight: "
            + "\(moved) completed during the dump, and no image can hold a request the kernel is still carrying out; "
            + "dump again once its I/O is done")
    }
}
