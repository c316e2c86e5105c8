import Foundation
import Glibc
import Ptrace

/// The receive rings of packet sockets (PACKET_RX_RING, as libpcap sets
/// one up for tcpdump): read at the dump through a mapping of crtool's
/// own, made again in the socket crtool makes before the socket is bound,
/// and mapped into the process where it had them once its descriptors are
/// made. The layout of TPACKET_V3's blocks is PacketRingBlocks', that of
/// V1's and V2's frames PacketRingFrames'.
enum PacketRings {
    static let receiveRing: Int32 = 5 // PACKET_RX_RING

    /// Reads the ring of `fd` (crtool's copy of the socket). The kernel
    /// goes on filling it while the tree is frozen, so it is read until
    /// two reads a moment apart agree: a frame the kernel was writing at
    /// the first is then whole.
    static func read(_ fd: Int32, geometry: PacketRingGeometry, frameHeader: PacketFrameHeader?, what: String) throws -> PacketRingImage {
        let mapping = try PacketRingMapping(socket: fd, size: geometry.size, writable: false, what: what)
        var ring = mapping.read(0..<mapping.size)
        for _ in 0..<20 {
            usleep(2000)
            let again = mapping.read(0..<mapping.size)
            if again == ring { break }
            ring = again
        }
        do {
            if let header = frameHeader { return try PacketRingFrames.save(ring, geometry: geometry, header: header) }
            return try PacketRingBlocks.save(ring, geometry: geometry)
        } catch {
            throw CheckpointError("\(what): \(error.reason)")
        }
    }

    /// Gives the socket crtool made (`fd`, not yet bound, so that no frame
    /// comes in meanwhile) its ring back, turned so that the kernel's
    /// first block is the one it was to write in next. PACKET_VERSION,
    /// among the socket's options, is set by now.
    static func make(_ image: PacketRingImage, on fd: Int32, what: String) throws {
        let g = image.geometry
        do {
            try Sockets.setBytesOption(fd, level: PacketSockets.level, name: receiveRing, g.request)
        } catch let e as SystemError {
            throw CheckpointError("cannot give \(what) its receive ring of \(g.blockCount) blocks of \(g.blockSize) bytes: \(e.errnoName)")
        }
        let mapping = try PacketRingMapping(socket: fd, size: g.size, writable: true, what: what)
        let placements = image.frameHeader == nil ? PacketRingBlocks.placements(image) : PacketRingFrames.placements(image)
        for (offset, bytes) in placements { mapping.write(bytes, at: offset) }
    }

    /// Maps each ring the process mapped where it was, from the socket at
    /// its descriptor (made by now), with the ring turned as `make` turned
    /// it. The kernel maps a ring only whole and from its start, so each
    /// VMA is mapped whole somewhere free and the part it had is moved
    /// over the placeholder the address space holds for it.
    static func map(_ process: ProcessImage, with inj: RemoteSyscall) throws {
        for (i, vma) in process.vmas.enumerated() where vma.kind == .packetRing {
            guard let (fd, ring) = socket(of: vma, in: process.files) else { throw unheld(vma, index: i, in: process) }
            let size = UInt64(ring.geometry.size)
            let at = "0x\(String(vma.start, radix: 16))"
            let whole = UInt64(try inj.checked("mapping the ring of fd \(fd) for \(at)", Syscall.mmap, 0, size, vma.prot, 0x01, UInt64(fd), 0)) // MAP_SHARED
            for piece in PacketRingBlocks.pieces(offset: vma.offset, length: vma.size, of: ring) {
                try inj.checked("moving the ring of fd \(fd) to \(at)", Syscall.mremap, whole + piece.source, piece.length, piece.length,
                                3, vma.start + piece.at) // MREMAP_MAYMOVE | MREMAP_FIXED
            }
            try inj.checked("unmapping the rest of the ring of fd \(fd)", Syscall.munmap, whole, size)
        }
    }

    /// The descriptor and ring of the packet socket a packetRing VMA maps,
    /// among `files`, the VMA's process's: nil when it holds no such
    /// socket or the VMA reaches past the ring.
    static func socket(of vma: VMAImage, in files: [FileDescriptorImage]) -> (fd: Int32, ring: PacketRingImage)? {
        guard let held = files.first(where: { $0.kind == .packetSocket && $0.inode == vma.ringSocket && $0.packetSocket?.receiveRing != nil }),
              let ring = held.packetSocket?.receiveRing else { return nil }
        let size = UInt64(ring.geometry.size)
        guard vma.offset % 4096 == 0, vma.offset < size, vma.size <= size - vma.offset else { return nil }
        return (held.fd, ring)
    }

    /// What an image whose VMA `index` maps no ring `socket(of:in:)` finds
    /// is refused with.
    static func unheld(_ vma: VMAImage, index: Int, in process: ProcessImage) -> ImageError {
        ImageError(file: "process-\(process.pid).json", field: "vmas[\(index)].ringSocket",
                   reason: "the ring mapped at 0x\(String(vma.start, radix: 16)) is of no packet socket with a receive ring the process holds, or reaches past it")
    }

    /// At the dump: every VMA that maps a socket must map, shared, the
    /// receive ring of a packet socket its process holds, which is what
    /// the restore can map again.
    static func requireHeld(_ vmas: [VMAImage], files: [FileDescriptorImage], pid: Int32) throws {
        for vma in vmas where vma.kind == .packetRing {
            let what = "pid \(pid) maps socket:[\(vma.ringSocket ?? 0)] at 0x\(String(vma.start, radix: 16))"
            guard socket(of: vma, in: files) != nil else {
                throw CheckpointError("\(what), which is not the receive ring of a packet socket it holds open; crtool cannot checkpoint that")
            }
            guard vma.protection.hasSuffix("s") else {
                throw CheckpointError("\(what) privately; crtool cannot checkpoint that")
            }
        }
    }
}
