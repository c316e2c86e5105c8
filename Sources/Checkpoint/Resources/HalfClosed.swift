import Glibc
import Ptrace

/// A connection whose peer had sent its FIN (CLOSE_WAIT, LAST_ACK,
/// CLOSING) comes back with that FIN taken: repair mode can set sequence
/// numbers and queues but not a state, so the restore hands the socket
/// the FIN its peer sent, as a segment from the peer's address
/// (TCPSegment), once the network lock is gone and before the socket
/// leaves repair mode. The program then reads its last bytes and end of
/// file, as it would have.
enum HalfClosed {
    /// States in which the peer's FIN is already taken.
    static let finTaken: Set<UInt8> = [TCPInfo.closeWait, TCPInfo.lastAck, TCPInfo.closing, TCPInfo.close]

    static func takeFIN(_ fd: Int32, _ fin: TCPSegment, what: String) throws {
        // A socket whose peer is in the image may have the real one already.
        guard !finTaken.contains(try TCPInfo.read(fd).state) else { return }
        if try fin.deliver(to: fd) { return }
        throw CheckpointError("cannot restore \(what): it did not take the FIN its peer had sent (it stays \(try TCPInfo.read(fd).stateName))")
    }
}
