import Foundation
import Ptrace

/// Brings the image's System V IPC objects back with the ids they had,
/// before any process is created. An object that is still there with the
/// same id and key is the very object the tree used: System V objects
/// outlive their users, the host is the same, and whoever else uses it
/// still does, so it is taken as it is, contents and all. A missing one is
/// created with its id (the kernel's *_next_id), filled, and given its
/// owner and mode. An id or key held by another object fails the restore
/// before anything is made.
final class SysVIPCRestore {
    private var created: [(SysVIPCKind, Int32)] = []
    private var destroyedSegments: [Int32] = []

    /// Removes what the restore created, when it fails.
    func undo() {
        for (kind, id) in created.reversed() { try? SysVIPC.remove(kind, id: id) }
        created = []
    }

    /// Once every process has attached its segments: segments that had
    /// been removed while attached are removed again, so they go with
    /// their last user as before.
    func finish() throws {
        for id in destroyedSegments {
            do {
                try SysVIPC.remove(.sharedMemory, id: id)
            } catch let e as SystemError where e.errno == EINVAL || e.errno == EIDRM {
                // Gone already: it was reused as it was, and its last user left.
            }
        }
        destroyedSegments = []
    }

    fileprivate func noteCreated(_ kind: SysVIPCKind, _ id: Int32) { created.append((kind, id)) }
    fileprivate func noteDestroyed(_ id: Int32) { destroyedSegments.append(id) }
}

enum SysVIPCRestorer {
    /// The image's objects that this IPC namespace lacks, which a restore
    /// makes. An object already there with the image's id and key is
    /// taken as it is (a process outside the tree kept it); one with
    /// another size, or an id, slot or key another object holds, is a
    /// conflict, named.
    struct Missing {
        var segments: [SysVSharedMemoryImage] = []
        var semaphoreSets: [SysVSemaphoreSetImage] = []
        var messageQueues: [SysVMessageQueueImage] = []
    }

    static func missing(_ objects: SysVIPCImage) throws -> Missing {
        var missing = Missing()
        guard !objects.isEmpty else { return missing }
        let shm = try SysVIPC.list(.sharedMemory)
        let sem = try SysVIPC.list(.semaphores)
        let msg = try SysVIPC.list(.messageQueue)
        for s in objects.sharedMemory {
            if try isPresent(.sharedMemory, id: s.id, key: s.key, existing: shm) {
                let now = try SysVSharedMemory.status(id: s.id)
                guard now.size == s.size else {
                    throw conflict(.sharedMemory, id: s.id, other: s.id, "it holds \(now.size) bytes, the image's \(s.size)")
                }
            } else {
                missing.segments.append(s)
            }
        }
        for s in objects.semaphoreSets {
            if try isPresent(.semaphores, id: s.id, key: s.key, existing: sem) {
                let now = try SysVSemaphores.status(id: s.id)
                guard now.count == s.values.count else {
                    throw conflict(.semaphores, id: s.id, other: s.id, "it has \(now.count) semaphores, the image's \(s.values.count)")
                }
            } else {
                missing.semaphoreSets.append(s)
            }
        }
        missing.messageQueues = try objects.messageQueues.filter { try !isPresent(.messageQueue, id: $0.id, key: $0.key, existing: msg) }
        return missing
    }

    /// Makes the image's `missing` objects, found as `missing(_:)` finds
    /// them.
    static func prepare(_ objects: SysVIPCImage?, missing: Missing?, image: ImageDirectory) throws -> SysVIPCRestore {
        let restore = SysVIPCRestore()
        guard let objects, let missing, !objects.isEmpty else { return restore }
        for s in objects.sharedMemory where s.destroyed { restore.noteDestroyed(s.id) }
        let (makeSegments, makeSets, makeQueues) = (missing.segments, missing.semaphoreSets, missing.messageQueues)

        do {
            for s in makeSegments {
                let id = try create(.sharedMemory, id: s.id, restore: restore) { try SysVSharedMemory.create(key: s.key, size: s.size, hugePageSize: s.hugePageSize) }
                try fill(id: id, from: s, image: image)
                if s.locked { try SysVSharedMemory.lock(id: id) }
                try SysVSharedMemory.setOwnership(id: id, uid: s.uid, gid: s.gid, mode: s.mode)
            }
            for s in makeSets {
                let id = try create(.semaphores, id: s.id, restore: restore) { try SysVSemaphores.create(key: s.key, count: s.values.count) }
                try SysVSemaphores.setValues(id: id, s.values)
                try SysVSemaphores.setOwnership(id: id, uid: s.uid, gid: s.gid, mode: s.mode)
            }
            for q in makeQueues {
                var maxBytes = q.maxBytes
                let id = try create(.messageQueue, id: q.id, restore: restore) { try SysVMessageQueue.create(key: q.key) }
                // Room first: the messages must fit as they did.
                // Beyond kernel.msgmnb only with CAP_SYS_RESOURCE: then the
                // default room, which the messages may still fit in.
                let now = try SysVMessageQueue.status(id: id)
                do {
                    try SysVMessageQueue.setOwnership(id: id, uid: now.ownership.uid, gid: now.ownership.gid, mode: 0o600, maxBytes: q.maxBytes)
                } catch let e as SystemError where e.errno == EPERM {
                    maxBytes = now.maxBytes
                }
                for (i, m) in q.messages.enumerated() {
                    do {
                        try SysVMessageQueue.send(id: id, SysVMessage(type: m.type, text: [UInt8](m.text)))
                    } catch let e as SystemError where e.errno == EAGAIN {
                        throw CheckpointError("System V message queue \(id): message \(i) of \(q.messages.count) does not fit in the \(maxBytes) bytes it may hold here (it held \(q.maxBytes); raising that needs CAP_SYS_RESOURCE)")
                    }
                }
                try SysVMessageQueue.setOwnership(id: id, uid: q.uid, gid: q.gid, mode: q.mode, maxBytes: maxBytes)
            }
        } catch {
            restore.undo()
            throw error
        }
        return restore
    }

    /// Whether the object is there with its id and key. An id, a slot or
    /// a key taken by another object is a conflict nothing here may undo.
    private static func isPresent(_ kind: SysVIPCKind, id: Int32, key: Int32, existing: [SysVIPCEntry]) throws -> Bool {
        if let same = existing.first(where: { $0.id == id }) {
            guard same.key == key else {
                throw conflict(kind, id: id, other: id, "it is taken by another \(kind.noun) with key \(SysVIPC.keyText(same.key)), the image's has key \(SysVIPC.keyText(key))")
            }
            return true
        }
        if let slot = existing.first(where: { $0.id & SysVIPC.indexMask == id & SysVIPC.indexMask }) {
            throw conflict(kind, id: id, other: slot.id, "its slot is taken by \(kind.noun) \(slot.id) (key \(SysVIPC.keyText(slot.key))), so the id cannot be made again")
        }
        if key != 0, let other = existing.first(where: { $0.key == key }) {
            throw conflict(kind, id: id, other: other.id, "its key \(SysVIPC.keyText(key)) is taken by \(kind.noun) \(other.id)")
        }
        return false
    }

    private static func conflict(_ kind: SysVIPCKind, id: Int32, other: Int32? = nil, _ reason: String) -> CheckpointError {
        let remedy = other.map { "remove the other one (ipcrm \(kind.ipcrmOption) \($0)) or restore where the id is free" }
            ?? "restore where the id is free"
        return CheckpointError("cannot restore System V \(kind.noun) \(id): \(reason); \(remedy)")
    }

    /// Creates an object that must get exactly `id`.
    private static func create(_ kind: SysVIPCKind, id: Int32, restore: SysVIPCRestore, _ make: () throws -> Int32) throws -> Int32 {
        try SysVIPC.setNextID(kind, id)
        let got: Int32
        do {
            got = try make()
        } catch {
            try? SysVIPC.setNextID(kind, -1)
            throw error
        }
        restore.noteCreated(kind, got)
        guard got == id else {
            throw CheckpointError("System V \(kind.noun) \(id) was made again as \(got): another object took the id meanwhile")
        }
        return id
    }

    private static func fill(id: Int32, from s: SysVSharedMemoryImage, image: ImageDirectory) throws {
        let attachment = try SysVSharedMemory.attach(id: id, readOnly: false)
        defer { attachment.detach() }
        let reader = try image.pageReader(name: s.pagesFile)
        for location in reader.chunkLocations() {
            let chunk = try reader.readChunk(location)
            try chunk.requireWithin(size: s.size, file: s.pagesFile, object: "segment")
            var offset = 0
            for range in chunk.ranges {
                try attachment.write(chunk.data, range: offset..<(offset + range.byteCount), at: range.address)
                offset += range.byteCount
            }
        }
    }

    /// Reads sysv-ipc.json if the image has it, and checks it and the
    /// objects of each IPC namespace in `namespaces` against the processes
    /// (`check`).
    static func load(_ image: ImageDirectory, processes: [ProcessImage], namespaces: [NamespaceImage]) throws -> SysVIPCImage? {
        let file = SysVIPCImage.listFile
        let manifest = image.manifest
        let objects: SysVIPCImage? = manifest.files[file] == nil ? nil : try image.readJSON(SysVIPCImage.self, from: file)
        try check(objects, file: file, field: "", manifest: manifest, processes: processes.filter { $0.namespaces?.ipc == nil })
        for (i, n) in namespaces.enumerated() where n.kind == .ipc {
            try check(n.sysvIPC, file: NamespaceImage.listFile, field: "[\(i)].sysvIPC.", manifest: manifest,
                      processes: processes.filter { $0.namespaces?.ipc == n.id })
        }
        return objects
    }

    /// Ids valid, page files in the image, and every
    /// segment one of `processes` (those of the objects' namespace)
    /// attaches saved; `field` prefixes the names of fields in errors.
    private static func check(_ objects: SysVIPCImage?, file: String, field prefix: String, manifest: Manifest,
                              processes: [ProcessImage]) throws {
        let segments = objects?.sharedMemory ?? []
        for (i, s) in segments.enumerated() {
            guard s.id >= 0 else { throw ImageError(file: file, field: "\(prefix)sharedMemory[\(i)].id", reason: "\(s.id) is not an id") }
            guard manifest.files[s.pagesFile] != nil, !s.pagesFile.contains("/") else {
                throw ImageError(file: file, field: "\(prefix)sharedMemory[\(i)].pagesFile", reason: "\(s.pagesFile) is not a file of this image")
            }
            guard s.size > 0, s.size < 1 << 46 else {
                throw ImageError(file: file, field: "\(prefix)sharedMemory[\(i)].size", reason: "\(s.size) bytes is not a segment size")
            }
            if let page = s.hugePageSize, !HugePageSizes.valid(page) {
                throw ImageError(file: file, field: "\(prefix)sharedMemory[\(i)].hugePageSize", reason: "\(page) is not a huge page size")
            }
        }
        for (i, s) in (objects?.semaphoreSets ?? []).enumerated() where s.id < 0 || s.values.isEmpty || s.values.contains(where: { $0 > 32767 }) {
            throw ImageError(file: file, field: "\(prefix)semaphoreSets[\(i)]", reason: "id \(s.id) with \(s.values.count) values is not a semaphore set")
        }
        for (i, q) in (objects?.messageQueues ?? []).enumerated() {
            guard q.id >= 0 else { throw ImageError(file: file, field: "\(prefix)messageQueues[\(i)].id", reason: "\(q.id) is not an id") }
            for (j, m) in q.messages.enumerated() where m.type <= 0 {
                throw ImageError(file: file, field: "\(prefix)messageQueues[\(i)].messages[\(j)].type", reason: "\(m.type) is not a message type")
            }
        }
        let saved = Set(segments.map(\.id))
        for p in processes {
            for (i, v) in p.vmas.enumerated() {
                guard let id = v.sysvShm else { continue }
                guard saved.contains(id) else {
                    throw ImageError(file: "process-\(p.pid).json", field: "vmas[\(i)].sysvShm",
                                     reason: "VMA at 0x\(String(v.start, radix: 16)) attaches System V shared memory \(id), which \(file) does not hold")
                }
            }
        }
    }
}

/// Attaching a segment again inside a process being rebuilt, by an
/// injected shmat at the VMA's address. A VMA that covers only part of its
/// segment (after a partial munmap or mprotect) is attached in a free hole,
/// trimmed, and moved into place, so the process's offset into the segment
/// stays what it was and shmdt still finds it.
enum SysVSharedMemoryAttacher {
    static func attach(_ vma: VMAImage, process: ProcessImage, inj: RemoteSyscall) throws {
        guard let id = vma.sysvShm else { return }
        let where_ = "System V shared memory \(id) at 0x\(String(vma.start, radix: 16)) in pid \(process.pid)"
        // Asked in the process: the segment is in its IPC namespace, which
        // may be one of the tree's own rather than crtool's.
        let status = try inj.stage([UInt8](repeating: 0, count: SysVSharedMemory.statusSize))
        try inj.checked("reading the size of \(where_)", Syscall.shmctl, UInt64(id), UInt64(SysVIPC.stat), status)
        let segment = (try inj.memory.read(at: status + SysVSharedMemory.sizeOffset, count: 8).le(UInt64.self, at: 0) + 4095) & ~4095
        guard vma.offset % 4096 == 0, vma.offset + vma.size <= segment else {
            throw ImageError(file: "process-\(process.pid).json", field: "vmas.offset",
                             reason: "\(where_) covers offset \(vma.offset)+\(vma.size) of a \(segment)-byte segment")
        }
        // VM_MAYWRITE ("mw") tells a read-only attach from a writable one
        // whose pages were later made read-only.
        let readOnly = vma.flags.isEmpty ? !vma.writable : !vma.flags.contains("mw")
        var flags: UInt64 = readOnly ? SysVSharedMemory.attachReadOnly : 0
        if vma.executable { flags |= SysVSharedMemory.attachExec }
        if vma.offset == 0 && vma.size == segment {
            let at = try inj.checked("attaching \(where_)", Syscall.shmat, UInt64(id), vma.start, flags | SysVSharedMemory.attachRemap)
            guard at == vma.start else { throw CheckpointError("\(where_) was attached at 0x\(String(at, radix: 16))") }
        } else {
            let current = try Maps.read(pid: inj.tracee.pid)
            let holes = AddressHoles(process.vmas.map { ($0.start, $0.end) } + current.map { ($0.start, $0.end) })
            guard let hole = holes.find(size: segment) else { throw CheckpointError("no free address range to attach \(where_) through") }
            let base = try inj.checked("attaching \(where_)", Syscall.shmat, UInt64(id), hole, flags)
            let tail = vma.offset + vma.size
            if tail < segment { try inj.checked("trimming \(where_)", Syscall.munmap, base + tail, segment - tail) }
            if vma.offset > 0 { try inj.checked("trimming \(where_)", Syscall.munmap, base, vma.offset) }
            try inj.checked("moving \(where_)", Syscall.mremap, base + vma.offset, vma.size, vma.size, 3, vma.start) // MAYMOVE|FIXED
        }
        let attached: UInt64 = readOnly ? 1 : 3
        if vma.prot != attached | (vma.executable ? 4 : 0) {
            try inj.checked("protecting \(where_)", Syscall.mprotect, vma.start, vma.size, vma.prot)
        }
    }
}
