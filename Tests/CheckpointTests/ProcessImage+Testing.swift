@testable import Checkpoint
import Foundation
import Ptrace

extension ProcessImage {
    /// A process image with only what a check on its files looks at; every
    /// other field is empty or zero.
    static func testing(pid: Int32, vmas: [VMAImage] = [], mappedFiles: [MappedFileImage]? = nil,
                        files: [FileDescriptorImage] = []) -> ProcessImage {
        let none = Credentials(uids: [0, 0, 0, 0], gids: [0, 0, 0, 0], groups: [], capInheritable: 0, capPermitted: 0,
                               capEffective: 0, capBounding: 0, capAmbient: 0, noNewPrivs: false)
        let layout = MemoryLayoutImage(startCode: 0, endCode: 0, startData: 0, endData: 0, startBrk: 0, brk: 0, startStack: 0,
                                       argStart: 0, argEnd: 0, envStart: 0, envEnd: 0, auxv: [])
        return ProcessImage(pid: pid, ppid: 1, pgid: pid, sid: pid, command: "tested", executable: "/bin/true", cwd: "/", root: "/",
                            umask: 0o022, personality: 0, credentials: none, limits: [], memoryLayout: layout,
                            vmas: vmas, threads: [], signalActions: [], sharedPendingSignals: [], intervalTimers: [],
                            mappedFiles: mappedFiles, files: files, pagesFile: "pages-\(pid).img")
    }

    /// What the image consistency check says of this image, given the
    /// one thread it needs and a manifest that agrees with it; nil when it
    /// passes.
    func consistencyRefusal() -> ImageError? {
        var p = self
        p.threads = [ThreadImage(tid: pid, name: "t", registers: Registers(), extendedState: Data(),
                                 signalMask: 0, pendingSignals: [], robustListHead: 0, robustListLength: 0, clearChildTid: 0,
                                 alternateStack: .disabled)]
        let manifest = Manifest(files: [p.pagesFile: FileChecksum(size: 0, crc32: 0)])
        let entry = ProcessEntry(pid: pid, ppid: ppid, pgid: pgid, sid: sid, tids: [pid], command: command)
        do {
            try ImageConsistency.check(p, entry: entry, manifest: manifest)
            return nil
        } catch {
            return error as? ImageError
        }
    }
}
