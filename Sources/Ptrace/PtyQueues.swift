import Foundation
import Glibc

/// What one side of a pseudo-terminal pair wrote and the other has not
/// read yet: keys typed at a shell that is busy, output a terminal server
/// has not forwarded. Kept so that a restored pair delivers them once and
/// in order, as the old one would have.
public struct PtyQueues: Codable, Equatable, Sendable {
    /// Complete lines the slave holds in canonical mode, each as one read
    /// of the slave returns it: with its newline or end-of-line character,
    /// or with neither when an end-of-file character (^D) ended it, which
    /// a read does not return (an empty line is such a character alone).
    public var lines: [Data]
    /// What the slave reads after those lines: in canonical mode the line
    /// not ended yet, otherwise everything.
    public var toSlave: Data
    /// What the slave wrote (after its output processing, such as a
    /// newline made "\r\n") that the master has not read.
    public var toMaster: Data

    public init(lines: [Data] = [], toSlave: Data = Data(), toMaster: Data = Data()) {
        self.lines = lines
        self.toSlave = toSlave
        self.toMaster = toMaster
    }

    public var isEmpty: Bool { lines.isEmpty && toSlave.isEmpty && toMaster.isEmpty }

    /// The most a line discipline holds for its reader; more waits in the
    /// kernel's buffers before it, taken in as the reader reads.
    public static let lineDisciplineSize = 4095

    /// A side whose line discipline is full: more may wait in the kernel's
    /// buffers before it, which a write cannot be sure to fit in again
    /// (how much they hold depends on the sizes of the writes that filled
    /// them), so nothing is read until its reader has read some.
    public struct Full: Error, CustomStringConvertible, Sendable {
        /// "master" or "slave": the side that has not read.
        public var reader: String
        public var description: String {
            "the pty's \(reader) has not read a full line discipline (\(PtyQueues.lineDisciplineSize) bytes) of what was written to it"
        }
    }
}

extension PtyQueues {
    /// Reads what the pair `master` drives holds each way and puts it back
    /// at once, so that the pair is left as it was: a pty has no way to
    /// look at its queues without taking them. Both sides' processes must
    /// be stopped. A pair whose slave is still locked (a program between
    /// posix_openpt and unlockpt) has nothing read.
    public static func copy(master: Int32) throws -> PtyQueues {
        let peer: Int32
        do {
            peer = try TerminalOps.openPeer(master)
        } catch let error as SystemError where error.errno == EIO {
            return PtyQueues()
        }
        defer { close(peer) }
        let attributes = try TerminalAttributes(try TerminalOps.attributes(peer))
        if try PtyIO.disciplineIsFull(master) { throw Full(reader: "master") }
        if !attributes.canonical, try PtyIO.disciplineIsFull(peer) { throw Full(reader: "slave") }
        // Output stopped (^S) would take neither the echo that shows the
        // input was taken in nor the output for the master: it runs while
        // they go back, and is stopped again after.
        let stop = try !PtyIO.isWritable(peer) ? PtyIO.startOutput(peer, attributes) : nil
        defer { if let stop { try? PtyIO.stopOutput(stop, master: master, peer: peer, attributes: attributes) } }
        // Status bytes would be mixed with the data read from the master;
        // a status the master's reader had not read yet is not kept.
        let packet = try TerminalOps.packetMode(master)
        if packet { try TerminalOps.setPacketMode(master, false) }
        defer { if packet { try? TerminalOps.setPacketMode(master, true) } }
        var queues = PtyQueues()
        do {
            queues.toMaster = try PtyIO.drain(master, what: "the pty master")
            (queues.lines, queues.toSlave) = try takeInput(peer, attributes)
        } catch {
            // What was taken before the failure goes back all the same.
            try? queues.put(master: master, peer: peer, attributes: attributes)
            throw error
        }
        try queues.put(master: master, peer: peer, attributes: attributes)
        return queues
    }

    /// Puts the bytes into the pair `master` drives, which must hold none:
    /// the slave reads the same lines and bytes, the master the same output.
    public func put(master: Int32) throws {
        guard !isEmpty else { return }
        let peer = try TerminalOps.openPeer(master)
        defer { close(peer) }
        try put(master: master, peer: peer, attributes: TerminalAttributes(try TerminalOps.attributes(peer)))
    }

    /// The slave's queue: complete lines one read at a time, as canonical
    /// mode hands them out, then the rest in non-canonical mode, which
    /// hands out all of it.
    private static func takeInput(_ peer: Int32, _ attributes: TerminalAttributes) throws -> ([Data], Data) {
        var lines: [Data] = []
        if attributes.canonical {
            var buffer = [UInt8](repeating: 0, count: lineDisciplineSize + 1)
            // Every line holds at least one byte of the buffer.
            for _ in 0...lineDisciplineSize {
                let n = read(peer, &buffer, buffer.count)
                if n < 0 {
                    if errno == EAGAIN { break }
                    throw SystemError("read of a line from the pty slave")
                }
                lines.append(Data(buffer[..<n]))
            }
        }
        var reading = attributes
        reading.canonical = false
        reading.minimumRead = 1
        reading.readTimeout = 0
        try TerminalOps.setAttributes(peer, reading.bytes)
        let rest = try PtyIO.drain(peer, what: "the pty slave")
        try TerminalOps.setAttributes(peer, attributes.bytes)
        return (lines, rest)
    }

    /// The slave's input goes in through the master under modes that change
    /// nothing (no translation, no special character but the end-of-file
    /// mark the lines need), kept until the line discipline has taken it
    /// in, since it takes bytes in after the write returns; then the
    /// slave's output, with no output processing.
    private func put(master: Int32, peer: Int32, attributes saved: TerminalAttributes) throws {
        if !lines.isEmpty || !toSlave.isEmpty {
            var fill = saved.plain
            if saved.canonical {
                let mark = try endOfFileMark()
                fill.canonical = true
                // Echo shows when the discipline has taken the bytes in.
                fill.echo = true
                fill.endOfFile = mark
                try TerminalOps.setAttributes(peer, fill.bytes)
                var bytes = Data()
                var marks = 0
                for line in lines {
                    bytes.append(line)
                    if line.last != UInt8(ascii: "\n") {
                        bytes.append(mark)
                        marks += 1
                    }
                }
                bytes.append(toSlave)
                try PtyIO.writeAll(master, bytes, what: "the pty master")
                // Every byte but the marks, which end lines unechoed.
                _ = try PtyIO.take(master, count: bytes.count - marks, what: "the echo of the pty master")
            } else {
                try TerminalOps.setAttributes(peer, fill.bytes)
                try PtyIO.writeAll(master, toSlave, what: "the pty master")
                try PtyIO.awaitReadable(peer, count: min(toSlave.count, Self.lineDisciplineSize))
            }
            try TerminalOps.setAttributes(peer, saved.bytes)
        }
        if !toMaster.isEmpty {
            var raw = saved
            raw.outputProcessing = false
            try TerminalOps.setAttributes(peer, raw.bytes)
            try PtyIO.writeAll(peer, toMaster, what: "the pty slave")
            try TerminalOps.setAttributes(peer, saved.bytes)
        }
    }

    /// Why these cannot be what a pty with `attributes` (struct termios)
    /// held, by the field at fault, or nil: each side's line discipline
    /// holds at most `lineDisciplineSize` bytes, and only canonical mode
    /// has lines, each ended by its last byte at most.
    public func problem(attributes: [UInt8]) -> (field: String, reason: String)? {
        let most = Self.lineDisciplineSize
        if toMaster.count > most { return ("toMaster", "\(toMaster.count) bytes, more than a pty holds (\(most))") }
        let slaveBytes = lines.reduce(toSlave.count) { $0 + $1.count }
        if slaveBytes > most { return ("lines", "\(slaveBytes) bytes with toSlave, more than a pty holds (\(most))") }
        if !lines.isEmpty, (try? TerminalAttributes(attributes))?.canonical != true {
            return ("lines", "lines for a terminal not in canonical mode (attributes)")
        }
        if let i = lines.firstIndex(where: { $0.dropLast().contains(UInt8(ascii: "\n")) }) {
            return ("lines[\(i)]", "a newline inside a line")
        }
        return nil
    }

    /// A byte none of the slave's input holds, to end the lines an
    /// end-of-file character ended.
    private func endOfFileMark() throws -> UInt8 {
        var used = Set(toSlave)
        for line in lines { used.formUnion(line) }
        guard let free = (UInt8(1)...UInt8(255)).first(where: { $0 != UInt8(ascii: "\n") && !used.contains($0) }) else {
            throw SystemError("putting lines back into a pty: they hold every byte value, so none can mark their ends", errno: EINVAL)
        }
        return free
    }
}
