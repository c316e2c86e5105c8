import Glibc

/// A terminal's struct termios as TCGETS fills it, with the few fields
/// crtool changes for a moment by name.
struct TerminalAttributes {
    private(set) var bytes: [UInt8]

    init(_ bytes: [UInt8]) throws {
        guard bytes.count >= 36 else { throw SystemError("reading terminal attributes of \(bytes.count) bytes", errno: EINVAL) }
        self.bytes = bytes
    }

    private static let inputFlags = 0, outputFlags = 4, localFlags = 12, controlCharacters = 17
    /// c_cc holds NCCS (19) characters for the kernel.
    private static let characterCount = 19

    private func flags(at offset: Int) -> UInt32 {
        bytes[offset..<offset + 4].enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * $1.offset) }
    }

    private mutating func setFlags(_ value: UInt32, at offset: Int) {
        for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }

    private mutating func setLocalFlag(_ flag: Int32, _ on: Bool) {
        let value = flags(at: Self.localFlags)
        setFlags(on ? value | UInt32(flag) : value & ~UInt32(flag), at: Self.localFlags)
    }

    var canonical: Bool {
        get { flags(at: Self.localFlags) & UInt32(ICANON) != 0 }
        set { setLocalFlag(ICANON, newValue) }
    }

    var echo: Bool {
        get { flags(at: Self.localFlags) & UInt32(ECHO) != 0 }
        set { setLocalFlag(ECHO, newValue) }
    }

    var outputProcessing: Bool {
        get { flags(at: Self.outputFlags) & UInt32(OPOST) != 0 }
        set {
            let value = flags(at: Self.outputFlags)
            setFlags(newValue ? value | UInt32(OPOST) : value & ~UInt32(OPOST), at: Self.outputFlags)
        }
    }

    var minimumRead: UInt8 {
        get { bytes[Self.controlCharacters + Int(VMIN)] }
        set { bytes[Self.controlCharacters + Int(VMIN)] = newValue }
    }

    var readTimeout: UInt8 {
        get { bytes[Self.controlCharacters + Int(VTIME)] }
        set { bytes[Self.controlCharacters + Int(VTIME)] = newValue }
    }

    var flowControl: Bool {
        get { flags(at: Self.inputFlags) & UInt32(IXON) != 0 }
        set {
            let value = flags(at: Self.inputFlags)
            setFlags(newValue ? value | UInt32(IXON) : value & ~UInt32(IXON), at: Self.inputFlags)
        }
    }

    /// The character that stops output, when IXON makes one do so.
    var stopCharacter: UInt8? {
        let character = bytes[Self.controlCharacters + Int(VSTOP)]
        return flowControl && character != 0 ? character : nil
    }

    var endOfFile: UInt8 {
        get { bytes[Self.controlCharacters + Int(VEOF)] }
        set { bytes[Self.controlCharacters + Int(VEOF)] = newValue }
    }

    /// The same line speed and size with nothing that changes or acts on a
    /// byte: no input translation, no output processing, no local modes
    /// (signals, echo, canonical mode) and every special character off.
    /// IXON stays as it is, with its start and stop characters off: the
    /// kernel restarts output stopped by ^S when IXON goes off.
    var plain: TerminalAttributes {
        var copy = self
        copy.setFlags(0, at: Self.inputFlags)
        copy.flowControl = flowControl
        copy.setFlags(0, at: Self.outputFlags)
        copy.setFlags(0, at: Self.localFlags)
        for i in 0..<Self.characterCount { copy.bytes[Self.controlCharacters + i] = 0 }
        copy.minimumRead = 1
        return copy
    }
}
