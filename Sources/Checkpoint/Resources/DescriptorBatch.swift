import Glibc
import Ptrace

/// The descriptors of one process, made in as few trips into it as the
/// batch runner allows. An injected call costs a round of ptrace stops,
/// and each descriptor took one to three of them: 9000 descriptors kept a
/// restore busy for most of a second. The kernel gives every new
/// descriptor the lowest free number, so where each one lands is known
/// before the calls run; they are queued, run together, and every result
/// is checked against the number it was meant to give, so a wrong guess
/// fails the restore instead of leaving a file at the wrong number.
final class DescriptorBatch {
    private let context: FileRestoreContext
    private var numbers: DescriptorNumbers
    /// The target's pidfd of crtool, for pidfd_getfd, taken from the
    /// context at the first descriptor crtool installs.
    private var crtool: Int64?
    private var requests: [SyscallRequest] = []
    private var expectations: [Expectation] = []
    /// crtool's descriptors queued for installing, closed once they are.
    private var locals: [Int32] = []
    /// Work for once the queued calls have run, in order.
    private var afterwards: [() throws -> Void] = []
    /// Bytes of the scratch area's lower half holding staged paths and
    /// message headers; the batch runner's table takes the upper half.
    private var stagedBytes = 0
    /// For a process born inside a user namespace, which takes crtool's
    /// descriptors by message: the courier, and each queued receive's
    /// staged header and the number its descriptor must land at.
    private let courier: DescriptorCourier?
    private var receives: [(offset: Int, landing: Int32, fd: Int32)] = []

    /// What a queued call must return: `result`, or any number that is
    /// not an error when nil.
    private struct Expectation {
        var result: Int64?
        var failure: (Int64) -> Error
    }

    init(context: FileRestoreContext) throws {
        self.context = context
        numbers = DescriptorNumbers(try ProcDirectory.fileDescriptors(pid: context.pid))
        courier = try context.registry.courier.flatMap { try $0.isNeeded(for: context.pid) ? $0 : nil }
    }

    deinit { for fd in locals { close(fd) } }

    private var pid: Int32 { context.pid }

    /// Queues crtool's descriptor `local` (the batch closes it) to become
    /// `f.fd` in the process; `then` runs once it is there.
    func install(_ local: Int32, as f: FileDescriptorImage, then: @escaping () throws -> Void) throws {
        let crtool: Int64
        do {
            crtool = try crtoolDescriptor()
        } catch {
            close(local)
            throw error
        }
        if courier != nil, receives.count == DescriptorCourier.inFlightLimit
            || ((stagedBytes + 7) & ~7) + DescriptorCourier.stagedBytes > context.inj.scratchSize / 2 {
            do {
                try flush()
            } catch {
                close(local)
                throw error
            }
        }
        locals.append(local)
        let landing = numbers.next()
        if let courier {
            try receive(local, at: landing, as: f, through: crtool, from: courier)
        } else {
            queue(SyscallRequest(Syscall.pidfdGetfd, UInt64(crtool), UInt64(local), 0), returning: landing,
                  "installing fd \(f.fd) with pidfd_getfd")
        }
        // pidfd_getfd always sets close-on-exec, and so does the receive.
        try place(landing, as: f, closeOnExec: true)
        afterwards.append(then)
    }

    /// Sends `local` now and queues the recvmsg that takes it, whose
    /// descriptor `flush` checks landed where the table says.
    private func receive(_ local: Int32, at landing: Int32, as f: FileDescriptorImage, through socket: Int64,
                         from courier: DescriptorCourier) throws {
        let offset = (stagedBytes + 7) & ~7
        let (bytes, request) = DescriptorCourier.receive(on: socket, stagedAt: context.inj.scratch + UInt64(offset))
        try context.inj.stage(bytes, at: offset)
        stagedBytes = offset + bytes.count
        try courier.send(local, to: pid)
        receives.append((offset, landing, f.fd))
        queue(request, returning: 1, "taking fd \(f.fd) from crtool with recvmsg")
    }

    /// Queues a copy of the description the process holds at `source`
    /// (made earlier, or queued before) as `f.fd`.
    func copy(from source: Int32, as f: FileDescriptorImage, then: @escaping () throws -> Void) throws {
        try claim(f)
        queue(SyscallRequest(Syscall.dup3, UInt64(source), UInt64(f.fd), f.closeOnExec ? UInt64(O_CLOEXEC) : 0),
              returning: f.fd, "dup3 of fd \(source) to fd \(f.fd)")
        afterwards.append(then)
    }

    /// Queues the process's own open of a path as `f.fd`.
    func open(_ request: PathOpen, as f: FileDescriptorImage, then: @escaping () throws -> Void) throws {
        let path = Array(request.path.utf8) + [0]
        if stagedBytes + path.count > context.inj.scratchSize / 2 { try flush() }
        let address = try context.inj.stage(path, at: stagedBytes)
        stagedBytes += path.count
        let landing = numbers.next()
        let pid = pid
        expect(SyscallRequest(Syscall.openat, UInt64(bitPattern: -100), address, UInt64(UInt32(bitPattern: request.flags)), 0),
               Expectation(result: Int64(landing)) { r in
                   CheckpointError(r < 0 ? "cannot reopen \(f.path) as fd \(f.fd) of pid \(pid): \(ErrnoNames.name(Int32(-r)))"
                       : "reopening \(f.path) in pid \(pid) gave fd \(r), not \(landing) as its table said")
               })
        if request.position != 0 {
            queue(SyscallRequest(Syscall.lseek, UInt64(landing), UInt64(bitPattern: request.position), 0), returning: nil,
                  "lseek of \(f.path) to \(request.position)")
        }
        try place(landing, as: f, closeOnExec: f.closeOnExec)
        afterwards.append(then)
    }

    /// Takes a descriptor the process made already by an injected call
    /// (the newest it has) to `f.fd`.
    func adopt(_ made: Int64, as f: FileDescriptorImage, then: @escaping () throws -> Void) throws {
        let landing = numbers.next()
        guard Int64(landing) == made else {
            throw CheckpointError("fd \(f.fd) of pid \(pid) was made as fd \(made), not \(landing) as its table said")
        }
        try place(landing, as: f, closeOnExec: f.closeOnExec)
        afterwards.append(then)
    }

    /// Runs every queued call and checks each result, then the work
    /// waiting for them.
    func flush() throws {
        defer {
            for fd in locals { close(fd) }
            locals = []
            requests = []
            expectations = []
            receives = []
            stagedBytes = 0
        }
        if !requests.isEmpty {
            let results = try context.inj.callAll(requests)
            for (r, e) in zip(results, expectations) where e.result.map({ r != $0 }) ?? (r < 0) {
                throw e.failure(r)
            }
            try checkReceived()
        }
        let work = afterwards
        afterwards = []
        for w in work { try w() }
    }

    /// Every descriptor taken by message is at the number the table gave.
    private func checkReceived() throws {
        guard let last = receives.last else { return }
        defer { receives = [] }
        let staged = try context.inj.fetch(at: 0, count: last.offset + DescriptorCourier.stagedBytes)
        for r in receives {
            let got = DescriptorCourier.received(Array(staged[r.offset..<(r.offset + DescriptorCourier.stagedBytes)]))
            guard got == r.landing else {
                throw CheckpointError("fd \(r.fd) of pid \(pid) was taken from crtool as \(got.map { "fd \($0)" } ?? "nothing"), not fd \(r.landing) as its table said")
            }
        }
    }

    /// The target's pidfd of crtool, which is not among the numbers free.
    private func crtoolDescriptor() throws -> Int64 {
        if let crtool { return crtool }
        let made = try context.crtoolDescriptor()
        numbers.take(Int32(made))
        crtool = made
        return made
    }

    /// Moves the new descriptor at `landing` to `f.fd`, with close-on-exec
    /// as the image has it.
    private func place(_ landing: Int32, as f: FileDescriptorImage, closeOnExec: Bool) throws {
        if landing != f.fd {
            try claim(f)
            queue(SyscallRequest(Syscall.dup3, UInt64(landing), UInt64(f.fd), f.closeOnExec ? UInt64(O_CLOEXEC) : 0),
                  returning: f.fd, "dup3 to fd \(f.fd)")
            queue(SyscallRequest(Syscall.close, UInt64(landing)), returning: 0, "close")
            numbers.free(landing)
        } else if closeOnExec != f.closeOnExec {
            queue(SyscallRequest(Syscall.fcntl, UInt64(f.fd), UInt64(F_SETFD), f.closeOnExec ? UInt64(FD_CLOEXEC) : 0),
                  returning: 0, "FD_CLOEXEC on fd \(f.fd)")
        }
    }

    /// dup3 onto a number in use would close what is there without a word.
    private func claim(_ f: FileDescriptorImage) throws {
        guard !numbers.holds(f.fd) else {
            throw CheckpointError("fd \(f.fd) of pid \(pid) is in use before it is made")
        }
        numbers.take(f.fd)
    }

    private func queue(_ request: SyscallRequest, returning result: Int32?, _ what: String) {
        let pid = pid
        let tid = context.inj.tracee.tid
        let name = SyscallNames.name(request.nr)
        expect(request, Expectation(result: result.map(Int64.init)) { r in
            r < 0 ? SystemError("injected \(name) (\(what)) in thread \(tid)", pid: pid, errno: Int32(-r)) as Error
                : CheckpointError("injected \(name) (\(what)) in pid \(pid) returned \(r), not \(result.map(String.init) ?? "a descriptor")")
        })
    }

    private func expect(_ request: SyscallRequest, _ expectation: Expectation) {
        requests.append(request)
        expectations.append(expectation)
    }
}
