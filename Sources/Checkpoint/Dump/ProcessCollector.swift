import Foundation
import Ptrace

/// Reads everything about one frozen process except its page data.
/// The inspector it opens (a scratch page lent to the process) stays open
/// until the caller closes it, after the memory is read.
struct CollectedProcess {
    var image: ProcessImage
    var details: [UInt64: SmapsDetail]
    var inspector: TaskInspector
    var memory: RemoteMemory
    /// From /proc/PID/stat, read while frozen: what an image made on a
    /// parent, or tracking writes, records to know the process again.
    var startTime: UInt64
}

/// A frozen process's mappings, read for every process of the tree before
/// any descriptor is looked at: a file deleted while open is one object
/// with the mappings of it anywhere in the tree.
struct ProcessLayout {
    var maps: [MapEntry]
    var details: [UInt64: SmapsDetail]
    var vmas: [VMAImage]
    /// The VMAs numa_maps shows with a policy (`TaskInspector.policyCandidates`).
    var policyCandidates: Set<UInt64> = []
    /// Read with the layout when it is for a dump.
    var facts: ProcessFacts?
    /// The UTS and IPC namespaces of its own the process is in.
    var namespaces: NamespaceMembership?

    /// The shared-memory objects (memfds, files deleted while mapped) the
    /// VMAs map.
    var mappedObjects: Set<UInt64> { Set(vmas.compactMap(\.sharedMemory)) }
}

enum ProcessCollector {
    /// The layouts of `processes`, read on `workers` threads. smaps and,
    /// `forDump`, numa_maps each walk the page tables of a process's
    /// whole memory (some 17 ms for 2 GiB), so every file is read on a
    /// thread of its own, while the tree is frozen; a dump's layouts
    /// carry the process's facts too, read after its smaps.
    static func layouts(of processes: [FrozenProcess], workers: Int, forDump: Bool) throws -> [ProcessLayout] {
        let lock = Lock()
        var layouts = [ProcessLayout?](repeating: nil, count: processes.count)
        var candidates = [Set<UInt64>](repeating: [], count: processes.count)
        let perProcess = forDump ? 2 : 1
        try ParallelWork.run(count: processes.count * perProcess, workers: workers) {
            { item in
                let (p, part) = item.quotientAndRemainder(dividingBy: perProcess)
                if part == 0 {
                    var layout = try layout(of: processes[p])
                    if forDump { layout.facts = try ProcessFacts.read(processes[p], vmas: layout.vmas) }
                    lock.withLock { layouts[p] = layout }
                } else {
                    let found = TaskInspector.policyCandidates(pid: processes[p].pid)
                    lock.withLock { candidates[p] = found }
                }
            }
        }
        return zip(layouts, candidates).map { layout, found in
            var complete = layout!
            complete.policyCandidates = found
            return complete
        }
    }

    static func layout(of frozen: FrozenProcess) throws -> ProcessLayout {
        let pid = frozen.pid
        let namespaces = try NamespaceCheck.membership(pid: pid, threads: frozen.threads.map(\.tid))
        let (maps, details) = try Smaps.mapsWithDetails(pid: pid)
        var vmas = try VMAClassifier.images(of: maps, pid: pid)
        for i in vmas.indices where vmas[i].flags.contains("ht") {
            vmas[i].hugePageSize = (details[vmas[i].start]?.kernelPageKiB ?? 2048) * 1024
        }
        try TransparentHugePages.find(in: &vmas, details: details, pid: pid)
        return ProcessLayout(maps: maps, details: details, vmas: vmas, namespaces: namespaces)
    }

    /// `mappedObjects`: what any process of the tree maps. `layout` must
    /// carry the process's facts (`layouts(of:workers:forDump:)`).
    static func collect(_ frozen: FrozenProcess, layout: ProcessLayout, mappedObjects: Set<UInt64>,
                        system: SystemDescriptors, ghostLimit: UInt64, tcpRepair: TCPRepairHold? = nil,
                        keeper: ExternalKeeper? = nil, externals: Set<String> = []) throws -> CollectedProcess {
        let pid = frozen.pid
        guard let facts = layout.facts else { throw CheckpointError("pid \(pid): its facts were not read with its layout") }
        let stat = facts.stat
        let status = facts.status
        let memory = RemoteMemory(pid: pid)
        let (maps, details) = (layout.maps, layout.details)
        var vmas = layout.vmas
        for i in vmas.indices where vmas[i].kind == .aioRing {
            vmas[i].aioRing = try AioRingReader.read(vmas[i], memory: memory, pid: pid)
        }
        let files = try OpenFiles.collect(pid: pid, system: system, ghostLimit: ghostLimit, mappedObjects: mappedObjects,
                                          tcpRepair: tcpRepair, keeper: keeper, externals: externals)
        try PacketRings.requireHeld(vmas, files: files, pid: pid)

        let ins = try TaskInspector(frozen: frozen, maps: maps, memory: memory, status: status)
        try ins.open()
        do {
            let asked = try ins.ask(threadFacts: facts.threads)
            FaultPoint.reach(FaultPoint.leaderBorrowed)
            let policies = try ins.memoryPolicies(of: vmas, candidates: layout.policyCandidates)
            for i in vmas.indices { vmas[i].memoryPolicy = policies[vmas[i].start] }
            let image = ProcessImage(
                pid: pid, ppid: stat.ppid, pgid: stat.pgid, sid: stat.sid,
                command: stat.command,
                executable: facts.executable,
                cwd: facts.cwd,
                root: facts.root,
                umask: status.umask ?? 0o022,
                personality: facts.personality,
                credentials: Credentials(uids: status.uids, gids: status.gids, groups: status.groups,
                                         capInheritable: status.capInheritable, capPermitted: status.capPermitted,
                                         capEffective: status.capEffective, capBounding: status.capBounding,
                                         capAmbient: status.capAmbient, noNewPrivs: status.noNewPrivs),
                limits: facts.limits,
                memoryLayout: MemoryLayoutImage(
                    startCode: stat.startCode, endCode: stat.endCode, startData: stat.startData, endData: stat.endData,
                    startBrk: stat.startBrk, brk: asked.brk, startStack: stat.startStack,
                    argStart: stat.argStart, argEnd: stat.argEnd, envStart: stat.envStart, envEnd: stat.envEnd,
                    auxv: facts.auxv),
                vmas: vmas, threads: asked.threads,
                signalActions: asked.signalActions,
                sharedPendingSignals: try frozen.leader.pendingSignals(shared: true).map { PendingSignal(signal: $0.signal, info: Data($0.bytes)) },
                intervalTimers: asked.intervalTimers,
                files: files, pagesFile: PageLineage.pagesFileName(pid: pid))
            var complete = image
            complete.posixTimers = try ins.posixTimers()
            complete.controllingTerminal = stat.terminal
            complete.foregroundGroup = stat.terminalForegroundGroup
            complete.oomScoreAdjust = facts.oomScoreAdjust
            complete.autogroupNice = facts.autogroupNice
            if frozen.wasStopped { complete.stopped = true }
            var controls = asked.controls
            controls.coredumpFilter = facts.coredumpFilter
            complete.controls = controls
            complete.mappedFiles = facts.mappedFiles
            complete.cgroups = facts.cgroups
            complete.namespaces = layout.namespaces
            if layout.namespaces?.pid != nil {
                complete.namespacePids = status.namespaceIDs
                for i in complete.threads.indices {
                    complete.threads[i].namespaceTids = facts.threads[complete.threads[i].tid]?.status.namespaceIDs
                }
            }
            complete.loginUID = facts.loginUID
            // Only a process with locked memory can have asked for more;
            // reading smaps again is not worth it for the others.
            if vmas.contains(where: { $0.flags.contains("lo") || $0.flags.contains("lf") }) {
                complete.lockFutureMappings = try ins.futureMappingLock()
            }
            if complete.executableIsDeleted && complete.deletedExecutableObject == nil {
                throw CheckpointError("pid \(pid) runs \(complete.executable), deleted since it started and mapped nowhere, "
                    + "so its content cannot be saved and no restore could make /proc/\(pid)/exe again")
            }
            return CollectedProcess(image: complete, details: details, inspector: ins, memory: memory, startTime: stat.startTime)
        } catch {
            try? ins.close()
            throw error
        }
    }
}

enum VMAClassifier {
    /// Every VMA of a process. Whether an object is secret memory is asked
    /// of its first VMA only: a statfs of its map_files entry is a path
    /// walk through /proc, and a region split by mprotect into thousands
    /// of VMAs paid it thousands of times.
    static func images(of maps: [MapEntry], pid: Int32) throws -> [VMAImage] {
        var secret: [UInt64: Bool] = [:]
        var surviving: [UInt64: String?] = [:]
        return try maps.map { try image(of: $0, pid: pid, secretByObject: &secret, survivingNames: &surviving) }
    }

    /// `secretByObject`: what is known already, by object id, of which
    /// objects are secret memory; `survivingNames`, of the other names of
    /// files mapped shared under a name deleted since.
    private static func image(of m: MapEntry, pid: Int32, secretByObject: inout [UInt64: Bool],
                              survivingNames: inout [UInt64: String?]) throws -> VMAImage {
        let kind: VMAKind
        var sharedMemory: UInt64?
        var sysvShm: Int32?
        let path = m.path ?? ""
        switch path {
        case "[vdso]": kind = .vdso
        case "[vvar]": kind = .vvar
        case "[vvar_vclock]": kind = .vvarVclock
        case "[vsyscall]": kind = .vsyscall
        case AioRingLayout.mapName where m.shared: kind = .aioRing
        case _ where path.hasPrefix("socket:["):
            // Only a packet socket's ring maps; the VMA is checked against
            // the socket once the process's files are read.
            var image = VMAImage(start: m.start, end: m.end, protection: m.protectionString, kind: .packetRing, offset: m.offset,
                                 path: m.path, flags: m.flags, pagesStored: 0, sharedMemory: nil)
            image.ringSocket = m.inode
            return image
        case SharedMemoryImage.hugeAnonymousName + " (deleted)" where m.flags.contains("ht"):
            // MAP_HUGETLB | MAP_ANONYMOUS: private memory is saved page by
            // page like any (smaps counts none of it as resident), shared
            // memory once as an object, like shared anonymous memory.
            kind = m.shared ? .sharedAnonymous : .anonymous
            if m.shared { sharedMemory = objectID(m) }
        case _ where m.shared && m.isDeleted:
            if let name = try survivingName(of: m, pid: pid, known: &survivingNames) {
                kind = .sharedFile
                return VMAImage(start: m.start, end: m.end, protection: m.protectionString, kind: kind, offset: m.offset,
                                path: name, flags: m.flags, pagesStored: 0, sharedMemory: nil)
            }
            fallthrough
        default:
            // memfds and files deleted while mapped have no path to map them
            // from again: their content is saved once, as a shared-memory
            // object, and mapped from a memfd.
            let memfd = path.hasPrefix("/memfd:") || (m.isDeleted && path.hasPrefix("/") && m.inode != 0 && !path.hasPrefix("/SYSV"))
            if memfd, isSecret(m, pid: pid, known: &secretByObject) {
                throw CheckpointError("pid \(pid) maps secret memory (memfd_secret) at 0x\(String(m.start, radix: 16)), "
                    + "which no other process, crtool included, can read; it cannot be checkpointed")
            }
            let anonymousShared = m.shared && (m.path == nil || path.hasPrefix("/dev/zero") || m.inode == 0)
            if path.hasPrefix("/SYSV") && m.shared {
                // The inode of a System V segment is its shmid.
                guard let id = Int32(exactly: m.inode) else {
                    throw CheckpointError("pid \(pid) maps System V shared memory (\(path)) at 0x\(String(m.start, radix: 16)) whose inode \(m.inode) is not a segment id")
                }
                kind = .sharedAnonymous
                sysvShm = id
            } else if anonymousShared || (memfd && m.shared) {
                kind = .sharedAnonymous
                sharedMemory = objectID(m)
            } else if memfd {
                kind = .privateFile
                sharedMemory = objectID(m)
            } else if m.shared {
                kind = .sharedFile
            } else {
                kind = (m.path == nil || m.isSpecial || m.inode == 0) ? .anonymous : .privateFile
            }
        }
        var image = VMAImage(start: m.start, end: m.end, protection: m.protectionString, kind: kind, offset: m.offset,
                             path: m.path, flags: m.flags, pagesStored: 0, sharedMemory: sharedMemory)
        image.sysvShm = sysvShm
        return image
    }

    private static func isSecret(_ m: MapEntry, pid: Int32, known: inout [UInt64: Bool]) -> Bool {
        let id = objectID(m)
        if let answer = known[id] { return answer }
        let answer = FileSystemMagic.of("/proc/\(pid)/map_files/\(String(m.start, radix: 16))-\(String(m.end, radix: 16))") == FileSystemMagic.secretMemory
        known[id] = answer
        return answer
    }

    /// The other name of a file mapped shared under a name deleted since
    /// (`LinkedElsewhere`), or nil for a file with no name left (saved as
    /// a memfd, as it was the program's alone).
    private static func survivingName(of m: MapEntry, pid: Int32, known: inout [UInt64: String?]) throws -> String? {
        let id = objectID(m)
        if let answer = known[id] { return answer }
        let path = m.path ?? ""
        let mapFile = "/proc/\(pid)/map_files/\(String(m.start, radix: 16))-\(String(m.end, radix: 16))"
        var st = stat()
        guard path.hasPrefix("/"), !path.hasPrefix("/memfd:"), !path.hasPrefix("/SYSV"), m.inode != 0,
              stat(mapFile, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_nlink > 0,
              LinkedElsewhere.applies(device: UInt64(st.st_dev), pid: pid) else {
            known[id] = .some(nil)
            return nil
        }
        let deletedName = String(path.dropLast(" (deleted)".count))
        let (device, inode) = (UInt64(st.st_dev), UInt64(st.st_ino))
        guard let name = SurvivingName.find(deletedName: deletedName, openAs: mapFile, device: device, inode: inode, pid: pid) else {
            throw CheckpointError("pid \(pid) maps \(path) shared at 0x\(String(m.start, radix: 16)), "
                + LinkedElsewhere.notFound(mapFile, deletedName: deletedName, device: device, inode: inode, links: UInt64(st.st_nlink)))
        }
        known[id] = name
        return name
    }

    /// One number per object: the device (major:minor in maps) in the top
    /// bits and the inode below, since inode numbers repeat across devices.
    static func objectID(_ m: MapEntry) -> UInt64 {
        let parts = m.device.split(separator: ":").map { UInt64($0, radix: 16) ?? 0 }
        guard parts.count == 2 else { return SharedMemoryImage.objectID(major: 0, minor: 0, inode: m.inode) }
        return SharedMemoryImage.objectID(major: parts[0], minor: parts[1], inode: m.inode)
    }
}
