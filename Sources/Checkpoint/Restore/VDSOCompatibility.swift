import Ptrace

/// Whether this kernel's vDSO can stand in for the one the image's
/// processes started with, and how: they hold pointers into it (glibc
/// looks its functions up once, at start). Where each function is at the
/// same offset and the mappings have the same sizes, the restore puts
/// this kernel's vDSO where the old one was; otherwise it bridges
/// (`VDSOBridge`). Decided before anything is made.
enum VDSOCompatibility {
    /// What this kernel gives every process.
    struct Host {
        var symbols: [String: UInt64]
        /// Mapping sizes by the names maps shows.
        var sizes: [String: UInt64]

        static func current() -> Host? {
            let sizes = VDSOSymbols.mappingSizes()
            guard let sizes, let symbols = VDSOSymbols.current(sizes: sizes) else { return nil }
            return Host(symbols: symbols, sizes: sizes)
        }
    }

    static func problems(image: [String: UInt64], host here: [String: UInt64]) -> [String] {
        image.keys.sorted().compactMap { name in
            let offset = image[name]!
            guard let now = here[name] else { return "\(name) (at \(hex(offset)) there, missing here)" }
            return now == offset ? nil : "\(name) (at \(hex(offset)) there, \(hex(now)) here)"
        }
    }

    /// The mappings whose size differs here, or that only one side has
    /// (a newer kernel's [vvar_vclock]), one sentence part each.
    static func resized(_ processes: [ProcessImage], host: Host) -> [String] {
        func size(_ bytes: UInt64?) -> String { bytes.map { "\($0) bytes" } ?? "none" }
        var found: Set<String> = []
        for process in processes {
            for (kind, name) in VDSOBridge.mappings {
                let there = process.vmas.first(where: { $0.kind == kind })?.size
                guard there != host.sizes[name] else { continue }
                found.insert("\(name) (\(size(there)) there, \(size(host.sizes[name])) here)")
            }
        }
        return found.sorted()
    }

    /// nil when this kernel's vDSO goes where the image's was; a bridge
    /// when it differs (or `mode` is always). Images that recorded no
    /// vDSO functions, and a host whose own vDSO cannot be read, take the
    /// old way (the sizes are still checked when the vDSO is moved).
    static func plan(_ manifest: Manifest, processes: [ProcessImage], mode: VDSOBridgeMode,
                     host: Host? = Host.current()) throws -> VDSOBridge? {
        guard let image = manifest.vdsoSymbols, let host else { return nil }
        let differences = problems(image: image, host: host.symbols) + resized(processes, host: host)
        let kernels = "the image was made on a kernel (\(manifest.kernelRelease)) whose vDSO differs from this kernel's (\(HostInfo.kernelRelease)): "
            + differences.joined(separator: ", ") + " (\(ManifestFile.name), field vdsoSymbols)"
        if differences.isEmpty && mode != .always { return nil }
        if mode == .never {
            throw CheckpointError(kernels + ". Its programs hold pointers into the vDSO, which here would lead into other code; restore it on a kernel with the same vDSO, or without --vdso-bridge never to reach this one through jumps")
        }
        var reasons: [String] = []
        let bridge = jumps(image: image, host: host.symbols, reasons: &reasons)
        reasons += threadsInside(processes) + tooSmall(bridge, processes)
        guard reasons.isEmpty else {
            throw CheckpointError((differences.isEmpty ? "the vDSO cannot be bridged: " : kernels + ", and cannot be bridged: ") + reasons.joined(separator: "; "))
        }
        return bridge
    }

    /// What the user is told of a bridge: the programs run through it.
    static func warnings(for bridge: VDSOBridge?, mode: VDSOBridgeMode) -> [String] {
        guard let bridge else { return [] }
        let why = mode == .always ? "--vdso-bridge always asked for it" : "it differs from the one they started with"
        return ["the processes reach this kernel's vDSO through jumps where the image's was (\(bridge.jumps.count) functions): \(why)"]
    }

    /// A jump per function offset of the image's vDSO. Offset 0 is its ELF
    /// header, where only the version name points; nothing calls it.
    private static func jumps(image: [String: UInt64], host: [String: UInt64], reasons: inout [String]) -> VDSOBridge {
        let byOffset = Dictionary(grouping: image.keys.filter { image[$0]! != 0 }, by: { image[$0]! })
        var jumps: [VDSOBridge.Jump] = []
        for offset in byOffset.keys.sorted() {
            let names = byOffset[offset]!.sorted()
            let targets = Set(names.compactMap { host[$0] })
            guard targets.count == 1 else {
                reasons.append(targets.isEmpty ? "\(names.joined(separator: ", ")) (at \(hex(offset)) there) is missing here, so a call through the old pointer would have nowhere to go"
                               : "\(names.joined(separator: ", ")) (at \(hex(offset)) there) are different functions here")
                continue
            }
            if let last = jumps.last, offset - last.from < UInt64(VDSOBridge.jumpSize) {
                reasons.append("the functions at \(hex(last.from)) and \(hex(offset)) are too close for a jump each")
            }
            jumps.append(.init(from: offset, to: targets.first!))
        }
        return VDSOBridge(jumps: jumps)
    }

    /// A thread stopped inside the old vDSO would go on in the middle of
    /// code that is not there any more.
    private static func threadsInside(_ processes: [ProcessImage]) -> [String] {
        processes.flatMap { process -> [String] in
            guard let vdso = process.vmas.first(where: { $0.kind == .vdso }) else { return [] }
            return process.threads.filter { (vdso.start..<vdso.end).contains($0.registers.rip) }.map {
                "thread \($0.tid) of pid \(process.pid) was inside the vDSO at the dump (at \(hex($0.registers.rip))); dump it again"
            }
        }
    }

    private static func tooSmall(_ bridge: VDSOBridge, _ processes: [ProcessImage]) -> [String] {
        guard let last = bridge.jumps.last else { return [] }
        let sizes = Set(processes.compactMap { $0.vmas.first(where: { $0.kind == .vdso })?.size })
        let room = UInt64(VDSOBridge.jumpSize)
        // Compared without adding: a hostile manifest may give any offset.
        return sizes.filter { $0 < room || last.from > $0 - room }.map { "the old vDSO (\($0) bytes) has no room for a jump at \(hex(last.from))" }
    }

    private static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
}
