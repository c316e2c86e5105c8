import Checkpoint

/// What `crtool show` says of a pipe or FIFO beyond its kind: the bytes
/// the restore puts back in it, and whether they are packets.
enum PipeDescription {
    static func of(_ f: FileDescriptorImage) -> String? {
        guard let pipe = f.pipe else { return nil }
        var parts: [String] = []
        if f.flags & PipeState.packetModeFlag != 0 { parts.append("packet mode") }
        if let data = pipe.data, !data.isEmpty {
            parts.append("\(data.count) bytes buffered" + (pipe.packets.map { " in \($0.count) packet\($0.count == 1 ? "" : "s")" } ?? ""))
        }
        return parts.isEmpty ? nil : parts.joined(separator: ", ")
    }
}
