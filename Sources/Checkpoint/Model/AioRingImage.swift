import Foundation

/// A Linux AIO context (io_setup) as the image keeps it: the completion
/// ring the kernel maps into the process, at the address that is also the
/// context's id (aio_context_t), with the completions the program had not
/// reaped yet. Requests still in flight are the kernel's alone; no image
/// can hold them.
public struct AioRingImage: Codable, Equatable, Sendable {
    /// Completion slots in the ring (struct aio_ring's nr).
    public var slots: UInt32
    /// Where the program will reap next, and where the kernel will put the
    /// next completion.
    public var head: UInt32
    public var tail: UInt32
    /// The io_events from head to tail, in order, 32 bytes each.
    public var completed: Data

    /// Completions between head and tail.
    public var completedCount: Int {
        guard slots > 0 else { return 0 }
        return Int((UInt64(tail) + UInt64(slots) - UInt64(head)) % UInt64(slots))
    }
}

/// The kernel's struct aio_ring: a 32-byte header (id, nr, head, tail,
/// magic, compat and incompat features, header length) and then nr
/// io_events of 32 bytes, filling whole pages.
enum AioRingLayout {
    static let headerSize = 32
    static let eventSize = 32
    static let magic: UInt32 = 0xa10a10a1
    /// What /proc/PID/maps names a ring.
    static let mapName = "/[aio] (deleted)"

    static let headOffset: UInt64 = 8
    static let tailOffset: UInt64 = 12

    /// The slots a ring of `size` bytes has.
    static func slots(forSize size: UInt64) -> UInt64 {
        size < UInt64(headerSize) ? 0 : (size - UInt64(headerSize)) / UInt64(eventSize)
    }

    /// The count to ask io_setup for so the kernel makes a ring of `size`
    /// bytes: it doubles the count (half the slots may sit in per-CPU
    /// reserves), adds two, and rounds the ring up to whole pages, whose
    /// slots it then all uses. A ring of P pages has 128 P - 1 slots, and
    /// asking for 64 P - 2 gives back P pages, as long as that is at least
    /// four per possible CPU (below that the kernel raises it).
    static func setupCount(forSize size: UInt64) -> UInt64 {
        max(slots(forSize: size), 2) / 2 - 1
    }

    /// Where slot `index`'s io_event sits, from the ring's start.
    static func eventOffset(_ index: UInt64) -> UInt64 {
        UInt64(headerSize) + index * UInt64(eventSize)
    }
}
