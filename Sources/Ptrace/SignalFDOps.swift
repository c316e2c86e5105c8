import CSupport
import Glibc

/// signalfd(2) for crtool's own use, with the mask as the kernel's 64-bit
/// word (bit N-1 for signal N), the form /proc shows it in.
public enum SignalFDOps {
    public static func create(mask: UInt64, flags: Int32) throws -> Int32 {
        var word = mask
        let r = withUnsafeMutablePointer(to: &word) {
            cr_syscall6(289, UInt64(bitPattern: -1), UInt64(UInt(bitPattern: $0)), 8, UInt64(UInt32(bitPattern: flags)), 0, 0) // signalfd4
        }
        if r < 0 { throw SystemError("signalfd with mask \(String(mask, radix: 16))") }
        return Int32(r)
    }
}
