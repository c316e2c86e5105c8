import Dispatch
import Foundation
import Ptrace

/// Turns the restore stub's address space into the image's, from outside,
/// by system calls injected into the stub: lend it a scratch page with a
/// `syscall` instruction, unmap everything of the stub's, move the vDSO to
/// where the image had it, map every VMA, write the pages, set final
/// protections and the mm fields.
final class AddressSpaceBuilder {
    static let scratchSize = 65536
    let process: ProcessImage
    let inj: RemoteSyscall
    let memory: RemoteMemory
    let pid: Int32
    var warnings: [String] = []

    /// Takes the stub at its exec stop and gives it the scratch page; moves
    /// this kernel's vDSO where the image's was, or with `vdsoBridge`
    /// leaves it and fills the old one's place with the bridge.
    init(process: ProcessImage, leader: Tracee, memory: RemoteMemory, vdsoBridge: VDSOBridge? = nil) throws {
        self.process = process
        self.memory = memory
        pid = leader.pid
        let stubMaps = try Maps.read(pid: pid)
        let site = try SyscallSite.inVDSO(pid: pid, maps: stubMaps)
        inj = try RemoteSyscall(tracee: leader, site: site, memory: memory)
        var holes = AddressHoles(process.vmas.map { ($0.start, $0.end) } + stubMaps.map { ($0.start, $0.end) })
        guard let scratch = holes.find(size: UInt64(Self.scratchSize)) else {
            throw CheckpointError("no free address range for the restore scratch area in pid \(pid)")
        }
        holes.reserve(scratch, scratch + UInt64(Self.scratchSize))
        try inj.checked("scratch area", Syscall.mmap, scratch, UInt64(Self.scratchSize), 7, 0x22 | 0x100000, UInt64.max, 0) // MAP_FIXED_NOREPLACE
        try memory.write([0x0f, 0x05, 0xcc, 0xcc], at: scratch)
        try inj.installBatchRunner(at: scratch + 16)
        inj.site = scratch
        inj.scratch = scratch + 4096
        inj.scratchSize = Self.scratchSize - 4096
        // One trip into the process for all of it.
        var calls = dropStubMappings(stubMaps, keep: scratch)
        var bridgeTarget: UInt64?
        if vdsoBridge == nil {
            calls += try moveVDSO(stubMaps: stubMaps, holes: holes)
        } else {
            let kept = try keepVDSO(stubMaps: stubMaps, holes: &holes)
            calls += kept.calls
            bridgeTarget = kept.vdso
        }
        if !calls.isEmpty { _ = try inj.checkedAll(calls) }
        if let vdsoBridge, let bridgeTarget { try placeBridge(vdsoBridge, target: bridgeTarget) }
    }

    var scratchBase: UInt64 { inj.site }

    private func dropStubMappings(_ maps: [MapEntry], keep scratch: UInt64) -> [(what: String, request: SyscallRequest)] {
        maps.filter { m in m.start != scratch && !["[vdso]", "[vvar]", "[vvar_vclock]", "[vsyscall]"].contains(m.path ?? "") }.map { m in
            ("unmapping the stub's \(m.path ?? "anonymous") at 0x\(String(m.start, radix: 16))", SyscallRequest(Syscall.munmap, m.start, m.size))
        }
    }

    /// The vDSO and its data pages must sit where the image had them:
    /// the restored code holds pointers into them (glibc caches vDSO
    /// entry points). Overlapping moves go through a temporary address.
    /// The calls that move them (and unmap those the image lacks).
    private func moveVDSO(stubMaps: [MapEntry], holes: AddressHoles) throws -> [(what: String, request: SyscallRequest)] {
        var moves: [(from: UInt64, to: UInt64, size: UInt64, name: String)] = []
        var calls: [(what: String, request: SyscallRequest)] = []
        for (kind, name) in VDSOBridge.mappings {
            let current = stubMaps.first { $0.path == name }
            let wanted = process.vmas.first { $0.kind == kind }
            switch (current, wanted) {
            case let (c?, w?):
                guard c.size == w.size else {
                    throw CheckpointError("the image's \(name) is \(w.size) bytes but this kernel's is \(c.size); the image comes from a different kernel build")
                }
                moves.append((c.start, w.start, c.size, name))
            case let (c?, nil):
                calls.append(("unmapping \(name)", SyscallRequest(Syscall.munmap, c.start, c.size)))
            case (nil, _?):
                throw CheckpointError("the image has a \(name) mapping but this kernel gives processes none")
            case (nil, nil):
                break
            }
        }
        func mremap(_ from: UInt64, _ to: UInt64, _ size: UInt64, _ name: String) {
            calls.append(("moving \(name) to 0x\(String(to, radix: 16))",
                          SyscallRequest(Syscall.mremap, from, size, size, 3, to))) // MAYMOVE|FIXED
        }
        let overlaps = moves.contains { m in moves.contains { o in m.to < o.from + o.size && o.from < m.to + m.size && m.to != o.from } }
        if overlaps {
            let base = moves.map(\.from).min() ?? 0
            let span = (moves.map { $0.from + $0.size }.max() ?? 0) - base
            guard let temp = holes.find(size: span) else { throw CheckpointError("no free address range to move the vDSO through") }
            for i in moves.indices {
                let to = temp + (moves[i].from - base)
                mremap(moves[i].from, to, moves[i].size, moves[i].name)
                moves[i].from = to
            }
        }
        for m in moves where m.from != m.to {
            mremap(m.from, m.to, m.size, m.name)
        }
        return calls
    }

    /// With a bridge, this kernel's vDSO and its data pages stay together
    /// as the kernel laid them out, moved as one block only where they
    /// overlap the image's memory. The calls that move them, and where
    /// the vDSO then starts.
    private func keepVDSO(stubMaps: [MapEntry], holes: inout AddressHoles) throws -> (calls: [(what: String, request: SyscallRequest)], vdso: UInt64) {
        let block = stubMaps.filter { m in VDSOBridge.mappings.contains { $0.name == m.path } }
        guard let vdso = block.first(where: { $0.path == "[vdso]" }) else {
            throw CheckpointError("this kernel gave pid \(pid) no vDSO to reach through the bridge")
        }
        let start = block.map(\.start).min()!, end = block.map(\.end).max()!
        guard process.vmas.contains(where: { $0.start < end && start < $0.end }) else { return ([], vdso.start) }
        guard let to = holes.find(size: end - start) else { throw CheckpointError("no free address range for this kernel's vDSO in pid \(pid)") }
        holes.reserve(to, to + (end - start))
        let calls = block.map { m in
            ("moving \(m.path!) to 0x\(String(to + (m.start - start), radix: 16))",
             SyscallRequest(Syscall.mremap, m.start, m.size, m.size, 3, to + (m.start - start))) // MAYMOVE|FIXED
        }
        return (calls, to + (vdso.start - start))
    }

    /// Fills the image's vDSO range with the bridge's jumps to `target`,
    /// read-only and executable as the vDSO was: private anonymous memory,
    /// which a later dump saves like any other.
    private func placeBridge(_ bridge: VDSOBridge, target: UInt64) throws {
        guard let old = process.vmas.first(where: { $0.kind == .vdso }) else { return }
        try inj.checked("mapping the vDSO bridge at 0x\(String(old.start, radix: 16))", Syscall.mmap, old.start, old.size, 3, 0x22 | 0x100000, UInt64.max, 0)
        try memory.write(bridge.code(size: Int(old.size), target: target), at: old.start)
        try inj.checked("protecting the vDSO bridge", Syscall.mprotect, old.start, old.size, 5)
    }

    private func protectionForWriting(_ vma: VMAImage) -> UInt64 {
        vma.pagesStored > 0 ? vma.prot | 3 : vma.prot
    }

    /// Maps every VMA of the image at its address. Shared-memory objects
    /// come from the memfds crtool filled (`sharedMemory`, by object id),
    /// planted into the process for the mmap.
    func mapAll(sharedMemory: [UInt64: Int32], registry: OpenFileRegistry) throws {
        var openFiles: [String: UInt64] = [:]
        let planting = FileRestoreContext(pid: pid, inj: inj, files: process.files, registry: registry)
        defer {
            _ = try? inj.callAll(openFiles.values.map { SyscallRequest(Syscall.close, $0) })
            try? planting.finish()
        }
        let vmas = process.vmas.sorted(by: { $0.start < $1.start })
        try openMappedFiles(vmas, into: &openFiles)
        // The mmaps go in batches, in address order: what makes calls of
        // its own (a System V attach, hugetlb memory, planting a memfd)
        // runs the batch so far first.
        var batch: [(what: String, request: SyscallRequest)] = []
        func mapBatch() throws {
            _ = try inj.checkedAll(batch)
            batch = []
        }
        for vma in vmas {
            let at = "0x\(String(vma.start, radix: 16))"
            if vma.kind == .anonymous && vma.sysvShm == nil && vma.hugePageSize == nil {
                batch.append(("mapping anonymous memory at \(at)",
                              SyscallRequest(Syscall.mmap, vma.start, vma.size, protectionForWriting(vma), mapFlags(vma) | 0x02 | 0x20, UInt64.max, 0)))
                continue
            }
            if let key = Self.fileKey(vma), let fd = openFiles[key] {
                let flags: UInt64 = vma.kind == .sharedFile ? 0x01 : 0x02
                batch.append(("mapping \(vma.path ?? "") at \(at)",
                              SyscallRequest(Syscall.mmap, vma.start, vma.size, protectionForWriting(vma), flags | mapFlags(vma), fd, vma.offset)))
                continue
            }
            var flags: UInt64 = 0
            var fd = UInt64.max
            switch vma.kind {
            case .vdso, .vvar, .vvarVclock, .vsyscall, .aioRing:
                continue
            case .packetRing:
                // Held, inaccessible, until the socket exists and its ring
                // is moved here (PacketRings.map).
                batch.append(("holding \(at) for a packet ring", SyscallRequest(Syscall.mmap, vma.start, vma.size, 0, 0x10 | 0x02 | 0x20, UInt64.max, 0)))
                continue
            case _ where vma.sysvShm != nil:
                try mapBatch()
                try SysVSharedMemoryAttacher.attach(vma, process: process, inj: inj)
                continue
            case .anonymous:
                guard let pageSize = vma.hugePageSize else { continue } // in the batch above
                try mapBatch()
                try mapHuge(vma, pageSize: pageSize)
                continue
            case _ where vma.sharedMemory != nil:
                flags |= vma.kind == .sharedAnonymous ? 0x01 : 0x02
                let id = vma.sharedMemory!
                guard let local = sharedMemory[id] else {
                    throw ImageError(file: "process-\(process.pid).json", field: "vmas.sharedMemory",
                                     reason: "VMA at \(at) maps shared-memory object \(id), which the image does not hold")
                }
                if let open = openFiles["shm:\(id)"] {
                    fd = open
                } else {
                    try mapBatch()
                    fd = UInt64(try planting.install(local))
                    openFiles["shm:\(id)"] = fd
                }
            case .sharedAnonymous:
                flags |= 0x01 | 0x20
            case .privateFile, .sharedFile:
                throw CheckpointError("VMA at \(at) is file-backed but has no path")
            }
            // A shared object's VMAs join the batch once its memfd is
            // planted: a region of 10000 VMAs took a trip each.
            batch.append(("mapping \(vma.path ?? "anonymous memory") at \(at)",
                          SyscallRequest(Syscall.mmap, vma.start, vma.size, protectionForWriting(vma), flags | mapFlags(vma), fd, vma.offset)))
        }
        try mapBatch()
        let rings = AioRingRestorer(inj: inj, memory: memory, pid: pid)
        for vma in process.vmas where vma.kind == .aioRing { try rings.restore(vma) }
        try bindMemoryPolicies()
    }

    /// How a file VMA's file is opened, shared by the VMAs that open it
    /// the same way; nil for VMAs that map no file by path.
    private static func fileKey(_ vma: VMAImage) -> String? {
        guard vma.kind == .privateFile || vma.kind == .sharedFile, vma.sysvShm == nil, vma.sharedMemory == nil,
              let path = vma.path else { return nil }
        return "\(vma.kind == .sharedFile && vma.writable ? "rw" : "r"):\(path)"
    }

    /// Opens every file the VMAs map, once each (read-write for a
    /// writable shared mapping), in batches of as many paths as the
    /// scratch area's lower half holds.
    private func openMappedFiles(_ vmas: [VMAImage], into openFiles: inout [String: UInt64]) throws {
        var pending: [(key: String, vma: VMAImage)] = []
        var staged: [UInt8] = []
        var requests: [SyscallRequest] = []
        func openPending() throws {
            guard !pending.isEmpty else { return }
            try inj.stage(staged)
            for ((key, vma), r) in zip(pending, try inj.callAll(requests)) {
                if r < 0 {
                    throw CheckpointError("cannot open \(vma.path ?? key), mapped at 0x\(String(vma.start, radix: 16)) in pid \(pid): \(ErrnoNames.name(Int32(-r)))")
                }
                openFiles[key] = UInt64(r)
            }
            pending = []
            staged = []
            requests = []
        }
        var seen: Set<String> = []
        for vma in vmas {
            guard let key = Self.fileKey(vma), let path = vma.path, seen.insert(key).inserted else { continue }
            let bytes = Array(path.utf8) + [0]
            if staged.count + bytes.count > inj.scratchSize / 2 { try openPending() }
            let mode: UInt64 = key.hasPrefix("rw:") ? 2 : 0
            requests.append(SyscallRequest(Syscall.openat, UInt64(bitPattern: -100), inj.scratch + UInt64(staged.count), mode | 0o2000000, 0))
            staged += bytes
            pending.append((key, vma))
        }
        try openPending()
    }

    /// Ranges with a NUMA policy of their own get it before their pages
    /// are written, so the pages come from the nodes it names. A node this
    /// host lacks is a warning: the range keeps the thread's policy.
    private func bindMemoryPolicies() throws {
        for vma in process.vmas {
            guard let policy = vma.memoryPolicy else { continue }
            let mask = try inj.stage(MemoryPolicyLayout.maskBytes(of: policy), at: 0)
            let r = try inj.call(Syscall.mbind, vma.start, vma.size, UInt64(UInt32(bitPattern: policy.mode)), mask, MemoryPolicyLayout.maxNodes, 0)
            if r < 0 {
                warnings.append("the NUMA policy of pid \(pid)'s memory at 0x\(String(vma.start, radix: 16)) (mode \(policy.mode), nodes \(policy.nodes)) was refused here: \(ErrnoNames.name(Int32(-r)))")
            }
        }
    }

    /// Private memory from the hugetlb pool (MAP_HUGETLB), whose pages the
    /// pool must have free.
    private func mapHuge(_ vma: VMAImage, pageSize: UInt64) throws {
        let flags = mapFlags(vma) | 0x02 | 0x20 | HugePages.mapFlags(pageSize: pageSize)
        let r = try inj.call(Syscall.mmap, vma.start, vma.size, protectionForWriting(vma), flags, UInt64.max, 0)
        if r == -Int64(ENOMEM) {
            throw CheckpointError("pid \(pid)'s huge-page memory at 0x\(String(vma.start, radix: 16)) cannot be made again: "
                + HugePages.shortage(bytes: vma.size, pageSize: pageSize))
        }
        if r < 0 && r > -4096 {
            throw SystemError("injected mmap (mapping huge-page memory at 0x\(String(vma.start, radix: 16))) in thread \(inj.tracee.tid)", pid: pid, errno: Int32(-r))
        }
    }

    /// MAP_FIXED, and MAP_GROWSDOWN and MAP_NORESERVE where smaps showed
    /// them ("gd", "nr").
    private func mapFlags(_ vma: VMAImage) -> UInt64 {
        var flags: UInt64 = 0x10 // MAP_FIXED
        if vma.flags.contains("gd") { flags |= 0x100 } // MAP_GROWSDOWN
        if vma.flags.contains("nr") { flags |= 0x4000 } // MAP_NORESERVE
        return flags
    }

    /// Writes every stored page, decompressing chunks on all cores: all of
    /// `reader`'s, then what the process takes from the pre-dumps under
    /// the image, `inherited`, each layer's wanted pages of its chunks
    /// (a chunk none of whose pages are wanted is not read). Each worker
    /// keeps to its own address lane (see AddressLanes) until that runs
    /// out of chunks, then helps in the others.
    func writePages(reader: PageStreamReader, inherited: [ImageChain.PageLayer] = [], workers: Int, progress: Progress) throws -> UInt64 {
        var work: [(reader: PageStreamReader, location: PageChunkLocation, wanted: [PageRange]?)] =
            reader.chunkLocations().map { (reader, $0, nil) }
        for layer in inherited {
            for location in layer.reader.chunkLocations() {
                let wanted = PageRanges.clipped(location.header.ranges, to: layer.wanted)
                if !wanted.isEmpty { work.append((layer.reader, location, wanted)) }
            }
        }
        let placed = work.map { $0.wanted ?? $0.location.header.ranges }
        let lanes = AddressLanes(balancing: placed.flatMap { $0 }, count: max(1, workers))
        try TransparentHugePages.advise(process.vmas, inj: inj)
        let fill = UserfaultFill.open(for: process.vmas, lanes: lanes, inj: inj, pid: pid)
        var queues = LaneQueues(lanes: placed.map { lanes.lane(of: $0.first?.address ?? 0) }, count: lanes.count)
        let lock = Lock()
        var written: UInt64 = 0
        try ParallelWork.run(workers: workers, next: { queues.take(for: $0) }) { _ in
            { i in
                try Interrupted.check(Interrupted.restoreGivenUp)
                // PageLayoutCheck has placed every range inside a VMA
                // of this process that stores pages.
                let item = work[i]
                let (ranges, bytes) = try item.reader.readPages(item.location)
                // (range of the chunk's bytes, address) of every page run
                // to write; a chunk of scattered pages has one per page.
                var pieces: [SourcePiece] = []
                pieces.reserveCapacity(ranges.count)
                var offset = 0
                var count = 0
                for range in ranges {
                    if let wanted = item.wanted {
                        for target in PageRanges.clipped([range], to: wanted) {
                            let start = offset + Int(target.address - range.address)
                            pieces.append((start..<(start + target.byteCount), target.address))
                            count += target.byteCount
                        }
                    } else {
                        pieces.append((offset..<(offset + range.byteCount), range.address))
                        count += range.byteCount
                    }
                    offset += range.byteCount
                }
                if let fill { pieces = try fill.place(bytes, pieces: pieces) }
                if !pieces.isEmpty { try self.memory.write(bytes, pieces: pieces) }
                lock.withLock { written += UInt64(count) }
                progress.add(UInt64(count))
            }
        }
        try fill?.finish()
        warnings += try TransparentHugePages.collapse(process.vmas, inj: inj, pid: pid)
        for layer in inherited { layer.reader.closeFiles() }
        return written
    }

    /// Final protections, the madvise flags smaps showed, locks, and last
    /// the seal (mseal) of a sealed VMA, which forbids changing it after.
    func finishMappings() throws {
        let mapped = process.vmas.filter { !$0.kind.isMadeApart }
        let reprotected = mapped.filter { protectionForWriting($0) != $0.prot }
        _ = try inj.checkedAll(reprotected.map {
            ("mprotect at 0x\(String($0.start, radix: 16))", SyscallRequest(Syscall.mprotect, $0.start, $0.size, $0.prot))
        })
        for vma in mapped {
            let advice: [(String, UInt64)] = [("dd", 16), ("dc", 10), ("wf", 18), ("hg", 14), ("nh", 15), ("mg", 12)]
            for (flag, code) in advice where vma.flags.contains(flag) {
                if try inj.call(Syscall.madvise, vma.start, vma.size, code) < 0 {
                    warnings.append("madvise(\(flag)) at 0x\(String(vma.start, radix: 16)) was refused")
                }
            }
            try lockIfLocked(vma)
            if vma.flags.contains("sl") {
                let r = try inj.call(Syscall.mseal, vma.start, vma.size, 0)
                if r < 0 { warnings.append("the sealed memory at 0x\(String(vma.start, radix: 16)) of pid \(pid) could not be sealed again: \(ErrnoNames.name(Int32(-r)))") }
            }
        }
        if let future = process.lockFutureMappings {
            let flags: UInt64 = 2 | (future == .lockedOnFault ? 4 : 0) // MCL_FUTURE, MCL_ONFAULT
            let r = try inj.call(Syscall.mlockall, flags)
            if r < 0 { warnings.append("mlockall(MCL_FUTURE) for pid \(pid) was refused: \(ErrnoNames.name(Int32(-r)))") }
        }
    }

    /// mlock (smaps "lo"), or mlock2 MLOCK_ONFAULT ("lf"), once the pages
    /// are in: locked memory is resident, and locking it first would fault
    /// in what the pages are about to overwrite.
    private func lockIfLocked(_ vma: VMAImage) throws {
        let onFault = vma.flags.contains("lf")
        guard onFault || vma.flags.contains("lo") else { return }
        let r = onFault ? try inj.call(Syscall.mlock2, vma.start, vma.size, 1) : try inj.call(Syscall.mlock, vma.start, vma.size)
        // A VMA with no access (a thread stack's guard page) cannot be
        // filled, so mlock answers ENOMEM, having locked it all the same.
        if r == -Int64(ENOMEM) && vma.prot == 0 { return }
        if r < 0 {
            warnings.append("the locked memory at 0x\(String(vma.start, radix: 16)) of pid \(pid) could not be locked again: \(ErrnoNames.name(Int32(-r)))")
        }
    }

    /// brk, code/data/stack/args/env bounds, auxv and /proc/PID/exe.
    func setMemoryLayout(sharedMemory: [UInt64: Int32], registry: OpenFileRegistry) throws {
        let layout = process.memoryLayout
        let auxvBytes = [UInt8].le(contentsOf: layout.auxv)
        let auxvAddress = try inj.stage(auxvBytes, at: 4096)
        func map(exe: Int64) -> [UInt8] {
            [UInt8].le(layout.startCode, layout.endCode, layout.startData, layout.endData,
                       layout.startBrk, layout.brk, layout.startStack,
                       layout.argStart, layout.argEnd, layout.envStart, layout.envEnd, auxvAddress)
                + [UInt8].le(UInt32(auxvBytes.count), UInt32(truncatingIfNeeded: exe))
        }
        if let id = process.deletedExecutableObject, let local = sharedMemory[id] {
            // An executable deleted since the process started: the memfd
            // its mappings were just made from (a memfd has no writer the
            // kernel counts, so it may become an executable).
            let planting = FileRestoreContext(pid: pid, inj: inj, files: process.files, registry: registry)
            defer { try? planting.finish() }
            let exeFD = try planting.install(local)
            defer { _ = try? inj.call(Syscall.close, UInt64(exeFD)) }
            let bytes = map(exe: exeFD)
            try inj.checked("PR_SET_MM_MAP", Syscall.prctl, 35, 14, try inj.stage(bytes, at: 0), UInt64(bytes.count), 0)
            return
        }
        // The file at the recorded path, opened, made /proc/PID/exe and
        // closed in one trip: it lands on the lowest free descriptor.
        var numbers = DescriptorNumbers(try ProcDirectory.fileDescriptors(pid: pid))
        let exeFD = numbers.next()
        let bytes = map(exe: Int64(exeFD))
        let mapAddress = try inj.stage(bytes, at: 0)
        let exePath = try inj.stage(string: process.executable, at: 8192)
        // The open is checked first, by hand, for its own message.
        let calls: [(what: String?, request: SyscallRequest)] = [
            (nil, SyscallRequest(Syscall.openat, UInt64(bitPattern: -100), exePath, 0o2000000, 0)),
            ("PR_SET_MM_MAP", SyscallRequest(Syscall.prctl, 35, 14, mapAddress, UInt64(bytes.count), 0)),
            (nil, SyscallRequest(Syscall.close, UInt64(exeFD))),
        ]
        let results = try inj.callAll(calls.map(\.request))
        if results[0] < 0 {
            throw CheckpointError("cannot open the executable \(process.executable) for pid \(pid): \(ErrnoNames.name(Int32(-results[0])))")
        }
        guard results[0] == Int64(exeFD) else {
            _ = try? inj.call(Syscall.close, UInt64(results[0]))
            throw CheckpointError("opening the executable in pid \(pid) gave fd \(results[0]), not \(exeFD) as its table said")
        }
        try inj.requireSucceeded(results, of: calls)
    }
}

extension Array where Element == UInt8 {
    static func le(contentsOf values: [UInt64]) -> [UInt8] {
        var out: [UInt8] = []
        for v in values { out += [UInt8].le(v) }
        return out
    }
}
