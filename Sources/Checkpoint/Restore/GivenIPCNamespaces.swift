import Ptrace

/// The System V objects of IPC namespaces left out at the dump
/// (`ExternalNamespaces`), brought back in the namespaces given in their
/// place as `SysVIPCRestorer` brings crtool's own back, before any
/// process is created: an object still there with the image's id and key
/// is the one the tree used, which the pod's other processes share and
/// may have changed since, and is taken as it is; a missing one (in a
/// namespace made anew for the restore) is made from the image; a
/// conflict fails the restore before anything is made, naming the
/// namespace. The namespace outlives a failed restore, so what was made
/// in it is removed again.
final class GivenIPCNamespaces {
    private struct Entry {
        let fd: Int32
        /// "the IPC namespace given for KEY".
        let name: String
        let objects: SysVIPCImage
        let missing: SysVIPCRestorer.Missing
        var restore: SysVIPCRestore?
    }

    private var entries: [Entry] = []

    /// Finds what each namespace given for one left out lacks of the
    /// objects the image saved of it; `given` as `ExternalNamespaces.requireGiven`
    /// returns it.
    init(_ namespaces: [NamespaceImage], given: [UInt64: Int32]) throws {
        for n in namespaces {
            guard n.kind == .ipc, let key = n.externalKey, let objects = n.sysvIPC, !objects.isEmpty, let fd = given[n.id] else { continue }
            let name = "the IPC namespace given for \(key)"
            let missing = try Self.run(in: fd, name) { try SysVIPCRestorer.missing(objects) }
            entries.append(Entry(fd: fd, name: name, objects: objects, missing: missing, restore: nil))
        }
    }

    /// The segments the restore will make, which the huge page pool may
    /// have to hold.
    var segmentsToMake: [SysVSharedMemoryImage] { entries.flatMap(\.missing.segments) }

    /// Makes what each namespace lacks.
    func prepare(image: ImageDirectory) throws {
        for i in entries.indices {
            let e = entries[i]
            entries[i].restore = try Self.run(in: e.fd, e.name) {
                try SysVIPCRestorer.prepare(e.objects, missing: e.missing, image: image)
            }
        }
    }

    /// As `SysVIPCRestore.finish`, once every process has attached its
    /// segments.
    func finish() throws {
        for e in entries {
            guard let restore = e.restore else { continue }
            try Self.run(in: e.fd, e.name) { try restore.finish() }
        }
    }

    /// Removes what `prepare` made, when the restore fails.
    func undo() {
        for e in entries.reversed() {
            guard let restore = e.restore else { continue }
            _ = try? Self.run(in: e.fd, e.name) { restore.undo() }
        }
    }

    /// `body` inside the namespace, its errors naming it.
    private static func run<T>(in fd: Int32, _ name: String, _ body: @escaping () throws -> T) throws -> T {
        do {
            return try NamespaceEntry.run(in: .ipc, descriptor: fd, what: name, body)
        } catch let e as CheckpointError {
            throw CheckpointError("in \(name): \(e.message)")
        }
    }
}
