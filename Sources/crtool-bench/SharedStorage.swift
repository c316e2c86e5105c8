import Checkpoint

/// Where a tree image keeps the pages of the memory its processes share:
/// the tree workload's target is that they are stored once, as objects of
/// their own, and by no process. Read from the image itself, so that the
/// pages each process has of its own (stack, libc's data: some 0.4 MiB
/// each, which add up in a tree of hundreds) do not count against it.
struct SharedStorage {
    /// Each shared-memory object of the image: its size and the pages it stores.
    var objects: [(size: UInt64, pages: UInt64)]
    /// Pages the processes' page files store for VMAs of shared memory.
    var processPages: UInt64

    static func read(imagePath: String) throws -> SharedStorage {
        let image = try ImageDirectory.open(at: imagePath, verifyContents: false)
        let manifest = image.manifest
        let objects = manifest.files[SharedMemoryImage.listFile] == nil
            ? [] : try image.readJSON([SharedMemoryImage].self, from: SharedMemoryImage.listFile)
        let stored: [(size: UInt64, pages: UInt64)] = try objects.map { object in
            let reader = try image.pageReader(name: object.pagesFile)
            defer { reader.closeFiles() }
            return (object.size, reader.summary.pages)
        }
        var processPages: UInt64 = 0
        for entry in manifest.processes {
            let process = try image.readJSON(ProcessImage.self, from: "process-\(entry.pid).json")
            processPages += process.vmas.filter { $0.kind == .sharedAnonymous }.reduce(0) { $0 + $1.pagesStored }
        }
        return SharedStorage(objects: stored, processPages: processPages)
    }

    /// Stored once: no process stores a page of shared memory, and one
    /// object of the size the workload shares holds every page of it.
    func storedOnce(sharing mebibytes: Int) -> Bool {
        let size = UInt64(mebibytes) << 20
        return processPages == 0 && objects.contains { $0.size == size && $0.pages == size / 4096 }
    }

    /// The pages of the objects together.
    var objectPages: UInt64 { objects.reduce(0) { $0 + $1.pages } }
}
