import Glibc
import Ptrace

/// `restore --join-ns NS:PID|PATH` (CRIU's flag): the tree's root goes
/// into a namespace that exists, instead of the one the image saved being
/// made again; the processes that were in that one with it enter it too.
/// For an image dumped without `--external`: a container restored into a
/// pod made since, whose network, UTS and IPC namespaces are the pod's.
/// The saved namespace is then treated as one left out at the dump
/// (`ExternalNamespaces`): its hostname, limits, loopback state and
/// sysctls are the namespace's own, and an IPC namespace's System V
/// objects are taken there as they are or made where missing
/// (`GivenIPCNamespaces`). A network namespace with devices crtool would
/// make (veth, tun, routes) cannot be joined: they would be lost.
public struct JoinedNamespace: Equatable, Sendable {
    public var kind: NamespaceKind
    /// crtool's descriptor of the namespace, open for the restore.
    public var fd: Int32
    /// What the user gave: a pid or a path.
    public var source: String

    /// The kinds a restore can join, those it can leave out.
    public static var kinds: [NamespaceKind] { ExternalNamespaces.kinds }

    /// Parses `NS:PID` or `NS:PATH` and opens the namespace, which must be
    /// of kind NS.
    public static func open(_ text: String) throws -> JoinedNamespace {
        let form = "--join-ns \(text)"
        guard let colon = text.firstIndex(of: ":"), let kind = NamespaceKind(rawValue: String(text[..<colon])) else {
            throw CheckpointError("\(form): give NS:PID or NS:PATH, NS one of \(kinds.map(\.rawValue).joined(separator: ", "))")
        }
        guard kinds.contains(kind) else {
            throw CheckpointError("\(form): crtool joins only \(kinds.map(\.rawValue).joined(separator: ", ")) namespaces, not a \(kind.title)")
        }
        let source = String(text[text.index(after: colon)...])
        guard !source.isEmpty, !source.contains(",") else {
            throw CheckpointError("\(form): give the namespace as a pid or a path, with no further options")
        }
        let path = source.allSatisfy(\.isNumber) ? "/proc/\(source)/ns/\(kind.rawValue)" : source
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError("\(form): \(SystemError("open \(path)"))") }
        guard NamespaceKind.of(descriptor: fd) == kind else {
            close(fd)
            throw CheckpointError("\(form): \(path) is not a \(kind.title)")
        }
        return JoinedNamespace(kind: kind, fd: fd, source: source)
    }

    /// Marks the root's namespace of each kind joined as left out, given
    /// by its descriptor; returns those descriptors by the namespaces' ids.
    static func apply(_ joined: [JoinedNamespace], to plan: inout RestorePlan) throws -> [UInt64: Int32] {
        var given: [UInt64: Int32] = [:]
        for j in joined {
            let form = "--join-ns \(j.kind.rawValue):\(j.source)"
            guard let id = plan.root.namespaces?[j.kind], let i = plan.namespaces.firstIndex(where: { $0.kind == j.kind && $0.id == id }) else {
                throw CheckpointError("\(form): pid \(plan.root.pid) was in crtool's \(j.kind.title) at the dump, and goes back into the restoring crtool's")
            }
            guard given[id] == nil else { throw CheckpointError("\(form): a \(j.kind.title) is joined twice") }
            var n = plan.namespaces[i]
            if let key = n.externalKey {
                throw CheckpointError("\(form): \(j.kind.rawValue):[\(id)] was left out at the dump; give the one to enter with --inherit-fd fd[N]:\(key)")
            }
            if n.veths != nil || n.tuns != nil || n.routes != nil {
                throw CheckpointError("\(form): net:[\(id)] had veth or tun devices or routes, which crtool makes again with the namespace; joining another would lose them")
            }
            n.externalKey = form
            (n.hostname, n.domainname, n.sysctls, n.loopbackUp, n.loopbackAddresses, n.owner) = (nil, nil, nil, nil, nil, nil)
            plan.namespaces[i] = n
            given[id] = j.fd
        }
        return given
    }
}
