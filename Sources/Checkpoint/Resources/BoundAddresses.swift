import Ptrace

/// The check a restore makes, before it creates any process, that the
/// addresses of the image's TCP listeners and bound UDP sockets are free
/// on this host: a server started on the same port since the dump would
/// otherwise fail the restore once the processes exist.
///
/// Each address is tried as the restore will take it: a socket of the same
/// family with the same options, bound, then closed. Connections are left
/// out (they take their address with TCP_REPAIR, beside a listener on the
/// same port), and so are sockets crtool-keeper or a process outside the
/// tree holds: those are taken back, not bound again. A socket of a
/// network namespace of the tree's is made in one the restore makes (or
/// is given), where its address is the namespace's own: it is not tried
/// in crtool's.
enum BoundAddresses {
    /// `comingWith`: addresses of devices the restore makes itself
    /// (HostTunDevices), not there yet and taken by nothing else.
    static func requireFree(_ processes: [ProcessImage], comingWith: Set<String> = []) throws {
        var tried: Set<Int> = []
        var taken: [String] = []
        for p in processes {
            for f in p.files {
                guard let state = f.inetSocket, let local = state.local, f.networkNamespace == nil, f.heldOutside == nil, f.external != true,
                      state.connection == nil, state.connecting == nil, !comingWith.contains(local.host),
                      tried.insert(f.openFile).inserted else { continue }
                let what = "fd \(f.fd) of pid \(p.pid)"
                do {
                    try InetSockets.tryBind(state, at: local, what: what)
                } catch let error as AddressInUse {
                    taken.append("\(error.address) (\(kind(state)), \(what)): in use by another socket")
                } catch {
                    taken.append("\(local.host) port \(local.port) (\(kind(state)), \(what)): \(error)")
                }
            }
        }
        guard !taken.isEmpty else { return }
        throw CheckpointError((taken.count == 1 ? "an address" : "\(taken.count) addresses")
            + " the image's sockets had cannot be taken on this host: " + taken.joined(separator: "; ")
            + ". Free \(taken.count == 1 ? "it" : "them") to restore it (ss -ltunp shows what holds a port)")
    }

    private static func kind(_ state: InetSocketState) -> String {
        state.transport == .udp ? "a UDP socket" : state.listening ? "a TCP listener" : "a bound TCP socket"
    }
}
