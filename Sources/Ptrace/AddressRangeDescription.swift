extension Range where Bound == UInt64 {
    /// "0xSTART-0xEND", as /proc/PID/maps writes a mapping, for errors.
    var addressDescription: String {
        "0x\(String(lowerBound, radix: 16))-0x\(String(upperBound, radix: 16))"
    }
}
