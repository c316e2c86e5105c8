/// Hexadecimal for error messages, where CRCs, magic numbers and
/// addresses are easiest to compare with a hex dump.
func hex<T: BinaryInteger>(_ value: T) -> String {
    "0x" + String(value, radix: 16)
}

/// CRCs always with 8 digits, so values line up when compared by eye.
func hex32(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
}

func hex(_ bytes: ArraySlice<UInt8>, separator: String = " ") -> String {
    bytes.map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined(separator: separator)
}
