import Foundation
import Glibc
import Ptrace

/// crtool-guard, which undoes what a dump holds on the host if crtool dies
/// before it lets that go itself (kill -9, the OOM killer): the kernel lets
/// the tree's threads run on when their tracer dies, but knows nothing of
/// the nftables table dropping their connections' packets, of the sockets
/// crtool put in TCP repair mode, or of a cgroup frozen while the tree is
/// seized. Without it, a tree that outlives its crtool would run on with
/// connections that hang for good, or sit in a frozen cgroup.
///
/// One guard serves a whole crtool process, started at the first thing it
/// must undo. Each thing is registered when crtool makes it and forgotten
/// when crtool undoes it or hands it on (the table, to the restore); the
/// guard acts when its socket ends, so only on what is still registered,
/// and ends then. A guard that cannot be started costs the dump nothing
/// but this net: `crtool check` says whether it is there.
final class DeathGuard: @unchecked Sendable {
    static let shared = DeathGuard(executable: DeathGuard.defaultPath())

    private let executable: String
    private let lock = NSLock()
    /// crtool's end of the guard's socket; nil before the first use, and
    /// after a guard that would not start or stopped listening.
    private var control: Int32?
    private var unavailable = false
    /// What the guard holds now, so that forgetting what it never held
    /// costs no message (and starts no guard).
    private var registered = Set<String>()

    init(executable: String) {
        self.executable = executable
    }

    /// The guard does what is still registered once its socket ends: at
    /// crtool's exit for the shared one, here for any other.
    deinit {
        if let control { close(control) }
    }

    static func defaultPath() -> String {
        CompanionExecutable.path("crtool-guard", environment: "CRTOOL_GUARD")
    }

    /// For `crtool check`.
    static var hostFeature: KernelFeature {
        CompanionExecutable.feature("crtool-guard (undoes a killed dump's hold on the host)", at: defaultPath(), required: false,
                                    otherwise: "a dump killed outright leaves its tree's TCP connections held and a --freeze-cgroup cgroup frozen")
    }

    /// At crtool's death, `nft delete table inet <table>`.
    /// `namespace`: a descriptor of the network namespace the table is
    /// in, when it is not crtool's (the guard keeps a copy).
    func deleteAtDeath(table: String, nft: String, namespace: Int32? = nil) {
        register("table \(table)", Array("L\(nft)\0\(table)".utf8), rights: namespace.map { [$0] } ?? [])
    }

    func forget(table: String) {
        unregister("table \(table)", Array("l\(table)".utf8))
    }

    /// At crtool's death, takes the socket `fd` (socket inode `inode`) out
    /// of TCP repair mode and gives it its SO_REUSEADDR back. The guard
    /// keeps a copy of `fd` until `forget(socket:)`.
    func resumeAtDeath(socket fd: Int32, inode: UInt64, reuseAddress: Int32) {
        var bytes = Array("R".utf8)
        bytes.appendLittleEndian(inode)
        bytes.appendLittleEndian(reuseAddress)
        register("socket \(inode)", bytes, rights: [fd])
    }

    func forget(socket inode: UInt64) {
        var bytes = Array("r".utf8)
        bytes.appendLittleEndian(inode)
        unregister("socket \(inode)", bytes)
    }

    /// Returns once the guard has done what it was told before: the copies
    /// of the sockets it was told to forget are closed then. A killed
    /// tree's connections must be gone before the restore makes them
    /// again on the same addresses.
    func settle() {
        lock.withLock {
            guard let control else { return }
            guard send(Array("S".utf8), rights: [], on: control) else { return }
            // A guard that does not answer within a second is stuck or
            // gone; the dump does not wait on it for longer.
            guard Sockets.isReadable(control, within: 1000), (try? Sockets.receive(control, count: 1)) == Array("S".utf8) else { return }
        }
    }

    /// At crtool's death, writes `text` to `path` (a cgroup's freezer
    /// state), in place of what an earlier call asked for the same path.
    func writeAtDeath(_ text: String, to path: String) {
        register("file \(path)", Array("W\(path)\0\(text)".utf8))
    }

    func forgetWrite(to path: String) {
        unregister("file \(path)", Array("w\(path)".utf8))
    }

    /// Starts the guard now, from the calling thread, which must be in
    /// crtool's own namespaces: a dump starts it before it touches any of
    /// the tree's, since a guard spawned from a thread stepped into the
    /// tree's network namespace would live there, in the way of the
    /// dump's check that no outside process shares it.
    func start() {
        lock.withLock { _ = started() }
    }

    private func register(_ key: String, _ message: [UInt8], rights: [Int32] = []) {
        lock.withLock {
            guard let control = started() else { return }
            if send(message, rights: rights, on: control) { registered.insert(key) }
        }
    }

    private func unregister(_ key: String, _ message: [UInt8]) {
        lock.withLock {
            guard let control, registered.remove(key) != nil else { return }
            _ = send(message, rights: [], on: control)
        }
    }

    /// A guard gone (killed from outside) takes the net with it; the dump
    /// goes on, as without one.
    private func send(_ message: [UInt8], rights: [Int32], on control: Int32) -> Bool {
        if case .success = Sockets.send(control, message, rights: rights, flags: Int32(MSG_NOSIGNAL)) { return true }
        close(control)
        self.control = nil
        unavailable = true
        registered = []
        return false
    }

    private func started() -> Int32? {
        if let control { return control }
        // Not from a thread stepped into another network namespace (see
        // start()); a later call from crtool's own may start it.
        guard Self.inOwnNetworkNamespace() else { return nil }
        guard !unavailable, access(executable, X_OK) == 0,
              let (mine, theirs) = try? Sockets.pair(type: Int32(SOCK_SEQPACKET.rawValue)) else {
            unavailable = true
            return nil
        }
        defer { close(theirs) }
        guard (try? CleanSpawn.spawn(executable, [], stdin: theirs, stdout: "/dev/null", stderr: "/dev/null")) != nil else {
            close(mine)
            unavailable = true
            return nil
        }
        control = mine
        return mine
    }

    /// Whether the calling thread is in crtool's own network namespace,
    /// which its threads step out of only around socket work.
    private static func inOwnNetworkNamespace() -> Bool {
        guard let own = NamespaceCheck.own[.net], let thread = try? NetworkNamespace.currentID() else { return false }
        return own == thread
    }
}
