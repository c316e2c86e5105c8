/// mount_setattr(2)'s attribute bits for a saved mount's flags.
enum MountAttributes {
    static let readOnly: UInt64 = 0x1
    static let noSuid: UInt64 = 0x2
    static let noDev: UInt64 = 0x4
    static let noExec: UInt64 = 0x8
    static let atimeMask: UInt64 = 0x70
    static let noAtime: UInt64 = 0x10
    static let strictAtime: UInt64 = 0x20
    static let noDirAtime: UInt64 = 0x80
    static let noSymFollow: UInt64 = 0x20_0000

    /// What to set and what to clear so that a mount has exactly `flags`:
    /// each flag not named is cleared, and the access-time rule is always
    /// given (relatime, noatime, or, with neither named, strictatime).
    static func of(_ flags: [String]) -> (set: UInt64, clear: UInt64) {
        let named = Set(flags.compactMap(MountFlag.init(rawValue:)))
        let bits: [(MountFlag, UInt64)] = [(.readOnly, readOnly), (.noSuid, noSuid), (.noDev, noDev), (.noExec, noExec),
                                           (.noDirAtime, noDirAtime), (.noSymFollow, noSymFollow)]
        var set: UInt64 = 0
        var all: UInt64 = 0
        for (flag, bit) in bits {
            all |= bit
            if named.contains(flag) { set |= bit }
        }
        if named.contains(.noAtime) {
            set |= noAtime
        } else if !named.contains(.relatime) {
            set |= strictAtime
        }
        return (set, (all & ~set) | atimeMask)
    }
}

/// The propagation types mount(2) and mount_setattr(2) take.
enum MountPropagationCall {
    static let unbindable: UInt64 = 1 << 17
    static let `private`: UInt64 = 1 << 18
    static let slave: UInt64 = 1 << 19
    static let shared: UInt64 = 1 << 20

    /// The calls, in order, that give a mount these kinds of propagation:
    /// a mount that is both a slave and shared is first made a slave,
    /// then given a peer group of its own.
    static func calls(for wanted: Set<MountPropagation>) -> [UInt64] {
        if wanted.contains(.unbindable) { return [unbindable] }
        return [wanted.contains(.slave) ? slave : `private`] + (wanted.contains(.shared) ? [shared] : [])
    }

    static func name(_ call: UInt64) -> String {
        switch call {
        case unbindable: return "unbindable"
        case slave: return "a slave"
        case shared: return "shared"
        default: return "private"
        }
    }
}
