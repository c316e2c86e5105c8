import Foundation
import Ptrace

/// Saves the System V IPC objects of a dump, once per image. In crtool's
/// own IPC namespace, segments are found through the tree's mappings
/// ("/SYSV<key>" in maps, the inode is the id); in an IPC namespace of the
/// tree's own, which goes with the tree, every object it holds is saved.
/// Segments are read through an attachment of crtool's own, read-only,
/// skipping pages never written (holes) and pages of zeros. Semaphore sets
/// and message queues are reached through no descriptor, so every one of
/// the namespace is saved; messages are copied with MSG_COPY, which leaves
/// them queued.
enum SysVIPCDumper {
    static func dump(_ processes: [ProcessImage], image: ImageDirectory, codec: Codec, progress: Progress) throws -> SysVIPCImage {
        var result = SysVIPCImage()
        var done: Set<Int32> = []
        for p in processes where p.namespaces?.ipc == nil {
            for vma in p.vmas {
                guard let id = vma.sysvShm, !done.contains(id) else { continue }
                done.insert(id)
                var segment = try dumpSegment(id: id, pid: p.pid, hugePageSize: vma.hugePageSize, image: image,
                                              codec: codec, progress: progress)
                segment.hugePageSize = vma.hugePageSize
                result.sharedMemory.append(segment)
            }
        }
        (result.semaphoreSets, result.messageQueues) = try semaphoreSetsAndQueues()
        return result
    }

    /// `namespaces` with the System V objects of each IPC namespace
    /// filled in, read from inside it. A segment no process maps is saved
    /// too, as small pages (the huge page size shows only in a mapping).
    static func dumpNamespaces(_ namespaces: [NamespaceImage], processes: [ProcessImage], image: ImageDirectory,
                               codec: Codec, progress: Progress) throws -> [NamespaceImage] {
        try namespaces.map { n in
            guard n.kind == .ipc else { return n }
            let members = processes.filter { $0.namespaces?.ipc == n.id }
            guard let member = members.first?.pid else { return n }
            var hugePageSizes: [Int32: UInt64] = [:]
            for p in members {
                for vma in p.vmas { if let id = vma.sysvShm, let size = vma.hugePageSize { hugePageSizes[id] = size } }
            }
            let objects = try NamespaceEntry.run(in: .ipc, of: member) {
                var objects = SysVIPCImage()
                for entry in try SysVIPC.list(.sharedMemory) {
                    // One removed since the listing is not there any more.
                    guard try vanishedIsNil({ try SysVSharedMemory.status(id: entry.id) }) != nil else { continue }
                    let hugePageSize = hugePageSizes[entry.id]
                    var segment = try dumpSegment(id: entry.id, pid: member, namespace: n.id, hugePageSize: hugePageSize,
                                                  image: image, codec: codec, progress: progress)
                    segment.hugePageSize = hugePageSize
                    objects.sharedMemory.append(segment)
                }
                (objects.semaphoreSets, objects.messageQueues) = try semaphoreSetsAndQueues()
                return objects
            }
            var saved = n
            saved.sysvIPC = objects.isEmpty ? nil : objects
            return saved
        }
    }

    /// Every semaphore set and message queue of the calling thread's IPC
    /// namespace.
    private static func semaphoreSetsAndQueues() throws -> ([SysVSemaphoreSetImage], [SysVMessageQueueImage]) {
        var sets: [SysVSemaphoreSetImage] = []
        var queues: [SysVMessageQueueImage] = []
        for entry in try SysVIPC.list(.semaphores) {
            guard let set = try vanishedIsNil({ try SysVSemaphores.status(id: entry.id) }) else { continue }
            guard let values = try vanishedIsNil({ try SysVSemaphores.values(id: entry.id, count: set.count) }) else { continue }
            let o = set.ownership
            sets.append(SysVSemaphoreSetImage(
                id: entry.id, key: o.key, uid: o.uid, gid: o.gid, cuid: o.cuid, cgid: o.cgid, mode: o.mode & 0o777,
                values: values))
        }
        for entry in try SysVIPC.list(.messageQueue) {
            guard let queue = try vanishedIsNil({ try SysVMessageQueue.status(id: entry.id) }) else { continue }
            var messages: [SysVMessageImage] = []
            var vanished = false
            while true {
                guard let copied = try vanishedIsNil({ try SysVMessageQueue.copy(id: entry.id, index: messages.count) }) else {
                    vanished = true
                    break
                }
                guard let m = copied else { break }
                messages.append(SysVMessageImage(type: m.type, text: Data(m.text)))
            }
            if vanished { continue }
            let o = queue.ownership
            queues.append(SysVMessageQueueImage(
                id: entry.id, key: o.key, uid: o.uid, gid: o.gid, cuid: o.cuid, cgid: o.cgid, mode: o.mode & 0o777,
                maxBytes: queue.maxBytes, messages: messages))
        }
        return (sets, queues)
    }

    private static func dumpSegment(id: Int32, pid: Int32, namespace: UInt64? = nil, hugePageSize: UInt64?, image: ImageDirectory,
                                    codec: Codec, progress: Progress) throws -> SysVSharedMemoryImage {
        let status: SysVSharedMemoryStatus
        do {
            status = try SysVSharedMemory.status(id: id)
        } catch let e as SystemError {
            throw CheckpointError("pid \(pid) maps System V shared memory \(id), which cannot be read: \(e)")
        }
        // Read-only, except on huge pages: the userfaultfd that finds
        // their pages registers only on an attachment that may be written
        // (nothing is written to it).
        let attachment = try SysVSharedMemory.attach(id: id, readOnly: hugePageSize == nil)
        defer { attachment.detach() }
        // Without swap, a page not resident is a hole; with pages in swap,
        // residency says nothing and every page is read. Huge pages are
        // never swapped.
        let swapped = (try? SysVSharedMemory.swappedBytes(id: id)) ?? nil
        let pageCount = Int((status.size + 4095) / 4096)
        let wanted = try hugePageSize.map { try attachment.residentPages(hugePageSize: $0) }
            ?? (swapped == 0 ? try attachment.residentPages() : [Bool](repeating: true, count: pageCount))
        let name = SysVSharedMemoryImage.pagesFile(id: id, namespace: namespace)
        let writer = try image.pageWriter(name: name, codec: codec)
        var buffer = [UInt8](repeating: 0, count: MemoryDumper.maxPagesPerItem * 4096)
        var page = 0
        while page < pageCount {
            guard wanted[page] else {
                page += 1
                continue
            }
            var end = page
            while end < pageCount, wanted[end], end - page < MemoryDumper.maxPagesPerItem { end += 1 }
            let count = (end - page) * 4096
            try attachment.read(into: &buffer, count: count, at: UInt64(page) * 4096)
            let chunk = ZeroPages.dropped(pid: pid, base: UInt64(page) * 4096, pages: end - page, buffer: buffer)
            if !chunk.ranges.isEmpty { try writer.append(chunk) }
            progress.add(UInt64(count))
            page = end
        }
        _ = try writer.finish()
        let o = status.ownership
        return SysVSharedMemoryImage(
            id: id, key: o.key, uid: o.uid, gid: o.gid, cuid: o.cuid, cgid: o.cgid, mode: o.mode & 0o777,
            size: status.size, destroyed: o.mode & SysVSharedMemory.destroyed != 0,
            locked: o.mode & SysVSharedMemory.locked != 0, pagesFile: name)
    }

    /// An object removed between the listing and the look at it (EINVAL,
    /// EIDRM) is simply not there any more.
    private static func vanishedIsNil<T>(_ body: () throws -> T) throws -> T? {
        do {
            return try body()
        } catch let e as SystemError where e.errno == EINVAL || e.errno == EIDRM {
            return nil
        }
    }
}
