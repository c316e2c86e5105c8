import Checkpoint
import Ptrace

/// What `crtool show` says of a pty master beyond its kind: which pty, and
/// what waits inside it to be read, which the restore puts back.
enum PtyDescription {
    static func of(_ f: FileDescriptorImage) -> String? {
        guard let pty = f.pty else { return nil }
        var parts = ["pty \(pty.index)" + (pty.devpts.map { " of the devpts at \($0)" } ?? "")]
        if pty.packetMode == true { parts.append("packet mode") }
        if let q = pty.queues {
            var unread: [String] = []
            let toSlave = (q.lines.isEmpty ? [] : ["\(q.lines.count) line\(q.lines.count == 1 ? "" : "s")"])
                + (q.toSlave.isEmpty ? [] : ["\(q.toSlave.count) bytes"])
            if !toSlave.isEmpty { unread.append(toSlave.joined(separator: " and ") + " by the slave") }
            if !q.toMaster.isEmpty { unread.append("\(q.toMaster.count) bytes by the master") }
            parts.append("not yet read: " + unread.joined(separator: ", "))
        }
        return parts.joined(separator: ", ")
    }
}
