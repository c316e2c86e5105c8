import Glibc
import Ptrace

/// epoll instances. The interest list is keyed by the descriptor numbers
/// of the process that added each watch, so crtool cannot build it in its
/// own table: the instance is made inside the restored process and its
/// watches added there with epoll_ctl, after every other descriptor is
/// back at its number (phase 1). Readiness is level-triggered state of the
/// watched files, so events pending at dump time are reported again.
enum EpollFiles: FileKind {
    static let kind = FileDescriptorImage.Kind.epoll
    static var phase: Int { 1 }

    static func recognizes(_ p: FileProbe) -> Bool {
        p.link == "anon_inode:[eventpoll]"
    }

    static func collect(_ image: inout FileDescriptorImage, probe p: FileProbe, context: FileDumpContext) throws {
        var watches: [EpollState.Watch] = []
        for w in try EpollInfo.read(pid: p.pid, fd: p.fd) {
            guard try KernelCompare.epollWatches(pid: p.pid, epollFD: p.fd, fd: w.fd) else {
                throw FileKinds.unsupported(p, what: "an epoll instance watching fd \(w.fd), which was closed or now is another file (the watch outlived its descriptor)")
            }
            // Phase 1 restores epoll instances in fd order: one may only
            // watch another that is back already.
            if w.fd > p.fd, (try? ProcFile.link("/proc/\(p.pid)/fd/\(w.fd)", pid: p.pid)) == "anon_inode:[eventpoll]" {
                throw FileKinds.unsupported(p, what: "an epoll instance watching the epoll instance at fd \(w.fd), a higher number than its own")
            }
            watches.append(EpollState.Watch(fd: w.fd, events: w.events, data: w.data))
        }
        image.epoll = EpollState(watches: watches)
    }

    static func open(_ f: FileDescriptorImage, context: FileRestoreContext) throws -> OpenedFile {
        let inj = context.inj
        let state = f.epoll ?? EpollState(watches: [])
        let epfd = try inj.checked("epoll_create1 for fd \(f.fd)", Syscall.epollCreate1, f.closeOnExec ? UInt64(O_CLOEXEC) : 0) // EPOLL_CLOEXEC is O_CLOEXEC
        for w in state.watches {
            guard context.files[w.fd] != nil else {
                throw CheckpointError("epoll fd \(f.fd) of pid \(context.pid) watches fd \(w.fd), which the image does not hold")
            }
            // struct epoll_event is packed on x86-64: 4 bytes of events, 8 of data.
            let event = try inj.stage([UInt8].le(w.events) + [UInt8].le(w.data))
            try inj.checked("adding fd \(w.fd) to epoll fd \(f.fd)", Syscall.epollCtl, epfd, 1, UInt64(w.fd), event) // EPOLL_CTL_ADD
        }
        if f.flags & O_NONBLOCK != 0 {
            try inj.checked("O_NONBLOCK on epoll fd \(f.fd)", Syscall.fcntl, epfd, UInt64(F_SETFL), UInt64(O_NONBLOCK))
        }
        return .remote(Int64(epfd))
    }
}
