import CSupport
import Glibc

/// The functions this kernel's vDSO exports, and where each sits in it.
///
/// A process holds pointers into its vDSO (glibc looks its functions up
/// once, at start), and a restore puts the new kernel's vDSO where the old
/// one was. So an image restores only on a kernel whose vDSO has each of
/// those functions at the same offset; elsewhere the pointers would lead
/// into the middle of other code.
public enum VDSOSymbols {
    /// crtool's own vDSO, the one this kernel gives every process: name to
    /// offset from its start. nil when there is none or it does not parse.
    /// `sizes`: `mappingSizes()`, when the caller has them already.
    public static func current(sizes: [String: UInt64]? = mappingSizes()) -> [String: UInt64]? {
        ownImage(size: sizes?["[vdso]"]).flatMap(parse)
    }

    /// The sizes of crtool's own vDSO and data-page mappings, by the names
    /// maps gives them ("[vdso]", "[vvar]", "[vvar_vclock]"): what this
    /// kernel gives every process. nil when maps cannot be read.
    public static func mappingSizes() -> [String: UInt64]? {
        guard let maps = try? Maps.read(pid: getpid()) else { return nil }
        var sizes: [String: UInt64] = [:]
        for m in maps {
            if let name = m.path, ["[vdso]", "[vvar]", "[vvar_vclock]"].contains(name) { sizes[name] = m.size }
        }
        return sizes
    }

    /// The bytes of crtool's own vDSO mapping, `size` bytes long.
    static func ownImage(size: UInt64?) -> [UInt8]? {
        let base = cr_vdso_base()
        guard base != 0, let size, let start = UnsafeRawPointer(bitPattern: UInt(base)) else { return nil }
        return [UInt8](UnsafeRawBufferPointer(start: start, count: Int(size)))
    }

    /// The defined symbols of an ELF64 image's .dynsym, by name, as
    /// offsets from its lowest loaded address. nil when it is not such an
    /// image or anything lies outside it.
    static func parse(_ elf: [UInt8]) -> [String: UInt64]? {
        func field(_ at: Int, _ width: Int) -> UInt64? {
            guard at >= 0, width <= 8, at <= elf.count - width else { return nil }
            return (0..<width).reduce(UInt64(0)) { $0 | UInt64(elf[at + $1]) << (8 * UInt64($1)) }
        }
        guard elf.count >= 64, elf[0] == 0x7f, elf[1] == 0x45, elf[2] == 0x4c, elf[3] == 0x46, elf[4] == 2,
              let phoff = field(0x20, 8), let phentsize = field(0x36, 2), let phnum = field(0x38, 2),
              let shoff = field(0x28, 8), let shentsize = field(0x3a, 2), let shnum = field(0x3c, 2),
              phoff < UInt64(elf.count), shoff < UInt64(elf.count) else { return nil }
        var loadBase = UInt64.max
        for i in 0..<Int(phnum) {
            let at = Int(phoff) + i * Int(phentsize)
            guard let type = field(at, 4), let vaddr = field(at + 0x10, 8) else { return nil }
            if type == 1 { loadBase = min(loadBase, vaddr) } // PT_LOAD
        }
        guard loadBase != .max else { return nil }
        func section(_ i: Int) -> (type: UInt64, offset: UInt64, size: UInt64, link: UInt64, entsize: UInt64)? {
            let at = Int(shoff) + i * Int(shentsize)
            guard let type = field(at + 4, 4), let offset = field(at + 0x18, 8), let size = field(at + 0x20, 8),
                  let link = field(at + 0x28, 4), let entsize = field(at + 0x38, 8) else { return nil }
            return (type, offset, size, link, entsize)
        }
        for i in 0..<Int(shnum) {
            guard let symbols = section(i) else { return nil }
            guard symbols.type == 11 else { continue } // SHT_DYNSYM
            guard symbols.entsize >= 24, symbols.link < shnum, let strings = section(Int(symbols.link)),
                  strings.offset <= UInt64(elf.count), strings.size <= UInt64(elf.count) - strings.offset else { return nil }
            var result: [String: UInt64] = [:]
            for k in 0..<Int(symbols.size / symbols.entsize) {
                let at = Int(symbols.offset) + k * Int(symbols.entsize)
                guard let nameAt = field(at, 4), let sectionIndex = field(at + 6, 2), let value = field(at + 8, 8) else { return nil }
                guard sectionIndex != 0, nameAt != 0, nameAt < strings.size, value >= loadBase else { continue }
                let first = Int(strings.offset + nameAt)
                let end = elf[first..<Int(strings.offset + strings.size)].firstIndex(of: 0) ?? Int(strings.offset + strings.size)
                result[String(decoding: elf[first..<end], as: UTF8.self)] = value - loadBase
            }
            return result
        }
        return nil
    }
}
