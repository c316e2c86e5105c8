import Ptrace

/// Whether this kernel's vDSO can stand in for the one the image's
/// processes started with: they hold pointers into it (glibc looks its
/// functions up once, at start), and the restore puts this kernel's
/// vDSO where the old one was. Each function must be at the same offset,
/// or a call would land in the middle of other code; checked before
/// anything is made.
enum VDSOCompatibility {
    static func problems(image: [String: UInt64], host here: [String: UInt64]) -> [String] {
        image.keys.sorted().compactMap { name in
            let offset = image[name]!
            guard let now = here[name] else { return "\(name) (at 0x\(String(offset, radix: 16)) there, missing here)" }
            return now == offset ? nil : "\(name) (at 0x\(String(offset, radix: 16)) there, 0x\(String(now, radix: 16)) here)"
        }
    }

    /// Images that recorded no vDSO pass, and so does a host whose own
    /// cannot be read (the late check of its size still stands).
    static func require(_ manifest: Manifest, here: [String: UInt64]? = VDSOSymbols.current()) throws {
        guard let image = manifest.vdsoSymbols, let here else { return }
        let problems = problems(image: image, host: here)
        guard !problems.isEmpty else { return }
        throw CheckpointError("the image was made on a kernel (\(manifest.kernelRelease)) whose vDSO has its functions elsewhere than this kernel's (\(HostInfo.kernelRelease)): "
            + problems.joined(separator: ", ") + " (\(ManifestFile.name), field vdsoSymbols). Its programs hold pointers into the vDSO, which here would lead into other code; restore it on a kernel with the same vDSO layout")
    }
}
