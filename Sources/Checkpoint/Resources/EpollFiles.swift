import Glibc
import Ptrace

/// epoll instances. The interest list is keyed by the descriptor numbers
/// of the process that added each watch, so crtool cannot build it in its
/// own table: the instance is made inside the restored process and its
/// watches added there with epoll_ctl, after every other descriptor is
/// back at its number (phase 1). Readiness is level-triggered state of the
/// watched files, so events pending at dump time are reported again.
///
/// An instance shared by several processes (inherited through fork) may
/// watch a descriptor one of them closed since: redis's save child, for
/// one, closes the listening sockets its parent's instance still watches.
/// Each watch is then added by the first process, in restore order, in
/// which its descriptor is still the watched file.
enum EpollFiles: FileKind {
    static let kind = FileDescriptorImage.Kind.epoll
    static var phase: Int { 1 }
    static func opensInProcess(_ image: FileDescriptorImage) -> Bool { true }

    static func recognizes(_ p: FileProbe) -> Bool {
        p.link == "anon_inode:[eventpoll]"
    }

    static func collect(_ image: inout FileDescriptorImage, probe p: FileProbe, context: FileDumpContext) throws {
        var watches: [EpollState.Watch] = []
        for w in try EpollInfo.read(pid: p.pid, fd: p.fd) {
            let here = try KernelCompare.epollWatches(pid: p.pid, epollFD: p.fd, fd: w.fd)
            // Phase 1 restores epoll instances in fd order: one may only
            // watch another that is back already.
            if here, w.fd > p.fd, (try? ProcFile.link("/proc/\(p.pid)/fd/\(w.fd)", pid: p.pid)) == "anon_inode:[eventpoll]" {
                throw FileKinds.unsupported(p, what: "an epoll instance watching the epoll instance at fd \(w.fd), a higher number than its own")
            }
            watches.append(EpollState.Watch(fd: w.fd, events: w.events, data: w.data, elsewhere: here ? nil : true))
        }
        image.epoll = EpollState(watches: watches)
    }

    /// Once descriptions have their numbers across the image: every watch
    /// must be one some holder of its instance can add again.
    static func checkWatchesHeld(_ processes: [ProcessImage]) throws {
        var holders: [Int: [(pid: Int32, file: FileDescriptorImage)]] = [:]
        for p in processes {
            for f in p.files where f.kind == .epoll { holders[f.openFile, default: []].append((p.pid, f)) }
        }
        for group in holders.values {
            guard let (pid, first) = group.first, let watches = first.epoll?.watches else { continue }
            func addable(_ i: Int, by holder: FileDescriptorImage) -> Bool {
                guard let other = holder.epoll?.watches, i < other.count else { return false }
                return other[i].addedHere
            }
            for (i, w) in watches.enumerated() where !group.contains(where: { addable(i, by: $0.file) }) {
                throw CheckpointError("pid \(pid) fd \(first.fd) is an epoll instance watching fd \(w.fd), which was closed or now is another file in every process holding the instance (the watch outlived its descriptor); crtool cannot checkpoint this kind of file yet (see docs/SUPPORT.md)")
            }
        }
    }

    static func open(_ f: FileDescriptorImage, context: FileRestoreContext) throws -> OpenedFile {
        let inj = context.inj
        let state = f.epoll ?? EpollState(watches: [])
        let epfd = try inj.checked("epoll_create1 for fd \(f.fd)", Syscall.epollCreate1, f.closeOnExec ? UInt64(O_CLOEXEC) : 0) // EPOLL_CLOEXEC is O_CLOEXEC
        try addWatches(state, to: Int64(epfd), of: f, context: context)
        if f.flags & O_NONBLOCK != 0 {
            try inj.checked("O_NONBLOCK on epoll fd \(f.fd)", Syscall.fcntl, epfd, UInt64(F_SETFL), UInt64(O_NONBLOCK))
        }
        return .remote(Int64(epfd))
    }

    /// A later holder of the instance adds the watches that were left to it.
    static func joined(_ f: FileDescriptorImage, context: FileRestoreContext) throws {
        guard let state = f.epoll else { return }
        try addWatches(state, to: Int64(f.fd), of: f, context: context)
    }

    /// Adds, through `epfd` in the process, each watch this process can add
    /// (its descriptor is the watched file here) that no earlier holder of
    /// the instance added.
    private static func addWatches(_ state: EpollState, to epfd: Int64, of f: FileDescriptorImage, context: FileRestoreContext) throws {
        let key = "epoll-watches-added:\(f.openFile)"
        var added = f.openFile == 0 ? [] : (context.shared[key] as? Set<Int> ?? [])
        for (i, w) in state.watches.enumerated() where w.addedHere && !added.contains(i) {
            guard context.files[w.fd] != nil else {
                throw CheckpointError("epoll fd \(f.fd) of pid \(context.pid) watches fd \(w.fd), which the image does not hold")
            }
            // struct epoll_event is packed on x86-64: 4 bytes of events, 8 of data.
            let event = try context.inj.stage([UInt8].le(w.events) + [UInt8].le(w.data))
            try context.inj.checked("adding fd \(w.fd) to epoll fd \(f.fd)", Syscall.epollCtl, UInt64(epfd), 1, UInt64(w.fd), event) // EPOLL_CTL_ADD
            added.insert(i)
        }
        if f.openFile != 0 { context.shared[key] = added }
    }
}
