import Foundation
import Glibc
import Ptrace

/// Pseudo-terminal masters held by the tree (a terminal emulator, script,
/// an ssh server). The slave side is an ordinary terminal path,
/// /dev/pts/N, reopened by path once its master exists again, so every
/// master is made before any process gets its descriptors back.
enum PtyMasters: FileKind {
    static let kind = FileDescriptorImage.Kind.ptyMaster

    static func recognizes(_ p: FileProbe) -> Bool {
        p.fileType == UInt32(S_IFCHR) && (p.link == "/dev/ptmx" || p.link.hasPrefix("/dev/pts/ptmx"))
    }

    static func collect(_ image: inout FileDescriptorImage, probe p: FileProbe, context: FileDumpContext) throws {
        let fd = try context.local(p.fd)
        image.pty = PtyState(index: try TerminalOps.ptyIndex(fd),
                             attributes: Data(try TerminalOps.attributes(fd)),
                             windowSize: Data(try TerminalOps.windowSize(fd)))
    }

    static func key(_ index: Int32) -> String { "pty:\(index)" }

    /// Makes every master of the image before any descriptor is restored.
    static func prepare(_ processes: [ProcessImage], registry: OpenFileRegistry) throws {
        for p in processes {
            for f in p.files where f.kind == .ptyMaster {
                guard let state = f.pty else {
                    throw ImageError(file: "process-\(p.pid).json", field: "files[fd \(f.fd)].pty", reason: "missing")
                }
                if registry.shared[key(state.index)] != nil { continue }
                let master = try TerminalOps.openPtyMaster(index: state.index)
                registry.keep(master)
                try TerminalOps.setAttributes(master, [UInt8](state.attributes))
                try TerminalOps.setWindowSize(master, [UInt8](state.windowSize))
                registry.shared[key(state.index)] = master
            }
        }
    }

    static func open(_ f: FileDescriptorImage, context: FileRestoreContext) throws -> OpenedFile {
        guard let index = f.pty?.index, let master = context.shared[key(index)] as? Int32 else {
            throw CheckpointError("pseudo-terminal master of fd \(f.fd) in pid \(context.pid) was not made")
        }
        let copy = dup(master)
        if copy < 0 { throw SystemError("dup of the pty master", pid: context.pid) }
        return .local(copy)
    }
}
