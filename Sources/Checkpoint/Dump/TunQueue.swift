/// A descriptor of the tree's attached to a tun device, where it is in
/// the image, and the open file it shares with others.
struct TunQueue {
    var pid: Int32
    var fd: Int32
    var openFile: Int
    /// Its process's index in the image's processes, and its own in the
    /// process's files.
    var process: Int
    var file: Int

    /// By device name, the descriptors of `processes` attached to each
    /// tun device of network namespace `namespace` (nil: crtool's), in
    /// the image's order.
    static func byDevice(in processes: [ProcessImage], namespace: UInt64?) -> [String: [TunQueue]] {
        var queues: [String: [TunQueue]] = [:]
        for (i, p) in processes.enumerated() {
            for (j, f) in p.files.enumerated() where f.networkNamespace == namespace {
                guard let name = f.tunFile?.interface else { continue }
                queues[name, default: []].append(TunQueue(pid: p.pid, fd: f.fd, openFile: f.openFile, process: i, file: j))
            }
        }
        return queues
    }
}
