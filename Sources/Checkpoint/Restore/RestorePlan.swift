import Foundation
import Ptrace

/// The image read and checked as a tree before anything is created:
/// every process's parent is in the image (the root's is outside), the
/// order puts parents before children.
struct RestorePlan {
    var processes: [ProcessImage]
    var zombies: [ZombieImage]
    var sharedMemory: [SharedMemoryImage]
    var sysvIPC: SysVIPCImage? = nil
    /// The UTS and IPC namespaces the processes had of their own.
    var namespaces: [NamespaceImage] = []
    /// Where the processes' paths are in crtool's mount namespace.
    var hostPaths = HostPaths.crtools
    /// How the processes reach this kernel's vDSO when it is not the
    /// image's (nil: it goes where the image's was).
    var vdsoBridge: VDSOBridge? = nil
    /// crtool's descriptors given for the namespaces left out at the
    /// dump, by their ids there (`ExternalNamespaces.requireGiven`).
    var givenNamespaces: [UInt64: Int32] = [:]
    /// The cgroups given with --cgroup-root, the plan's cgroups already
    /// moved under them (`CgroupRootChange.apply`).
    var givenCgroups: [CgroupMembership] = []
    /// The tree's cgroups with the settings the dump saved, moved with the
    /// rest by --cgroup-root.
    var cgroups: [CgroupImage] = []
    /// Each process's page stream, its chunk headers read and checked
    /// against the process; files closed until pages are written.
    var pageReaders: [Int32: PageStreamReader] = [:]
    /// The pages each process takes from the images under the image.
    var inheritedPages: [Int32: [ImageChain.PageLayer]] = [:]
    /// The write trackers of the dumped tree, when the image tracked its
    /// writes (dump --track-mem): a restore means that tree is gone, so
    /// their keepers have nothing left to do.
    var trackers: [OutsideHolder] = []

    var root: ProcessImage { processes[0] }

    /// `host` as `viewer` numbers it, for a call injected into it (a
    /// process group, a terminal's foreground): nil for one its PID
    /// namespace does not see.
    func id(_ host: Int32, seenBy viewer: ProcessImage) -> Int32? {
        PidNamespaceLayout.id(host, seenBy: viewer, in: processes, zombies: zombies)
    }

    var allIDs: [Int32] {
        processes.flatMap { p in [p.pid] + p.threads.map(\.tid).filter { $0 != p.pid } } + zombies.map(\.pid)
    }

    /// The process files are decoded on `workers` threads: some 0.5 ms
    /// each, which a tree of hundreds would otherwise pay in a row.
    static func load(_ image: ImageDirectory, workers: Int) throws -> RestorePlan {
        let manifest = image.manifest
        guard !manifest.processes.isEmpty else {
            throw ImageError(file: "manifest.json", field: "processes", reason: "the image holds no process")
        }
        guard !manifest.isPreDump else {
            throw ImageError(file: "manifest.json", field: "preDump",
                             reason: "\(image.path) is a pre-dump, which holds pages only: restore the dump made on top of it (crtool dump --prev-images-dir)")
        }
        let chain = try ImageChain.open(under: manifest, in: image.path, verifyContents: true)
        var loaded: [ProcessImage] = []
        var pageReaders: [Int32: PageStreamReader] = [:]
        var inheritedPages: [Int32: [ImageChain.PageLayer]] = [:]
        var trackers: [OutsideHolder] = []
        let entries = manifest.processes
        let decoded = try ParallelWork.map(count: entries.count, workers: workers) { i in
            try image.readJSON(ProcessImage.self, from: "process-\(entries[i].pid).json")
        }
        for (entry, p) in zip(entries, decoded) {
            try ImageConsistency.check(p, entry: entry, manifest: manifest)
            let reader = try image.pageReader(name: p.pagesFile)
            try PageLayoutCheck.check(reader, of: p)
            if let lineage = try PageLineage.read(from: image, pid: p.pid) {
                let lineageFile = PageLineage.fileName(pid: p.pid)
                if let tracker = lineage.tracker { trackers.append(tracker) }
                if !lineage.inherited.isEmpty {
                    guard let chain else {
                        throw ImageError(file: lineageFile, field: "inherited", reason: "pages are taken from a parent image, and manifest.json names none")
                    }
                    try PageLayoutCheck.check(lineage, file: lineageFile, reader: reader, vmas: p.vmas)
                    inheritedPages[p.pid] = try chain.layers(pid: p.pid, startTime: lineage.startTime, inherited: lineage.inherited, file: lineageFile)
                }
            }
            reader.closeFiles()
            pageReaders[p.pid] = reader
            loaded.append(p)
        }
        let zombies = manifest.files[ZombieImage.listFile] == nil ? [] : try image.readJSON([ZombieImage].self, from: ZombieImage.listFile)
        let shared = manifest.files[SharedMemoryImage.listFile] == nil ? [] : try image.readJSON([SharedMemoryImage].self, from: SharedMemoryImage.listFile)
        for (i, s) in shared.enumerated() where manifest.files[s.pagesFile] == nil || s.pagesFile.contains("/") {
            throw ImageError(file: SharedMemoryImage.listFile, field: "[\(i)].pagesFile", reason: "\(s.pagesFile) is not a file of this image")
        }
        for (i, s) in shared.enumerated() {
            if let page = s.hugePageSize, !HugePageSizes.valid(page, size: s.size) {
                throw ImageError(file: SharedMemoryImage.listFile, field: "[\(i)].hugePageSize", reason: "\(page) is not a huge page size that divides \(s.size) bytes")
            }
        }
        let objects = Set(shared.map(\.id))
        for p in loaded {
            for (i, vma) in p.vmas.enumerated() {
                if let id = vma.sharedMemory, !objects.contains(id) {
                    throw ImageError(file: "process-\(p.pid).json", field: "vmas[\(i)].sharedMemory", reason: "object \(id) is not in \(SharedMemoryImage.listFile)")
                }
            }
            for f in p.files {
                if let id = f.memfd?.object, !objects.contains(id) {
                    throw ImageError(file: "process-\(p.pid).json", field: "files[fd \(f.fd)].memfd.object", reason: "object \(id) is not in \(SharedMemoryImage.listFile)")
                }
            }
        }

        let pids = Set(loaded.map(\.pid))
        guard pids.count == loaded.count else {
            throw ImageError(file: "manifest.json", field: "processes", reason: "a pid appears twice")
        }
        let roots = loaded.filter { !pids.contains($0.ppid) }
        guard roots.count == 1 else {
            throw ImageError(file: "manifest.json", field: "processes",
                             reason: "\(roots.count) processes have their parent outside the image (\(roots.map { "\($0.pid)" }.joined(separator: ", "))); a tree has one root")
        }
        // Parents before children.
        var ordered = [roots[0]]
        var placed: Set<Int32> = [roots[0].pid]
        var remaining = loaded.filter { $0.pid != roots[0].pid }
        while !remaining.isEmpty {
            let ready = remaining.filter { placed.contains($0.ppid) }
            guard !ready.isEmpty else {
                throw ImageError(file: "manifest.json", field: "processes", reason: "parent links form a cycle")
            }
            for p in ready.sorted(by: { $0.pid < $1.pid }) {
                ordered.append(p)
                placed.insert(p.pid)
            }
            remaining.removeAll { placed.contains($0.pid) }
        }
        for (i, z) in zombies.enumerated() where !pids.contains(z.ppid) || pids.contains(z.pid) {
            throw ImageError(file: ZombieImage.listFile, field: "[\(i)]", reason: "zombie \(z.pid) has no parent \(z.ppid) in the image, or shares a pid")
        }
        let allIDs = ordered.flatMap { [$0.pid] + $0.threads.map(\.tid) } + zombies.map(\.pid)
        let threadsBesideLeaders = ordered.reduce(0) { $0 + $1.threads.count - 1 }
        guard Set(allIDs).count == Set(ordered.map(\.pid)).count + threadsBesideLeaders + zombies.count else {
            throw ImageError(file: "manifest.json", field: "processes", reason: "a thread id is used twice in the image")
        }
        if let problem = PidNamespaceLayout.problem(processes: ordered, zombies: zombies) {
            let file = problem.zombie ? ZombieImage.listFile : "process-\(problem.pid).json"
            throw ImageError(file: file, field: problem.zombie ? "[pid \(problem.pid)].\(problem.field)" : problem.field, reason: problem.reason)
        }
        var plan = RestorePlan(processes: ordered, zombies: zombies, sharedMemory: shared)
        if manifest.files[CgroupImage.listFile] != nil {
            plan.cgroups = try image.readJSON([CgroupImage].self, from: CgroupImage.listFile)
            try CgroupImageCheck.check(plan.cgroups)
        }
        plan.pageReaders = pageReaders
        plan.inheritedPages = inheritedPages
        plan.trackers = trackers
        plan.namespaces = try NamespaceRestorer.load(image, processes: ordered)
        try PtyMasters.check(ordered, namespaces: plan.namespaces)
        plan.hostPaths = HostPaths(namespaces: plan.namespaces, processes: ordered)
        plan.sysvIPC = try SysVIPCRestorer.load(image, processes: ordered, namespaces: plan.namespaces)
        return plan
    }
}
