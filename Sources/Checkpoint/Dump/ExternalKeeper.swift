import Glibc
import Ptrace

/// The process that keeps open, from a dump to its restore, the files the
/// tree shares with processes outside it (`dump --hold-external`): the
/// write end of a pipe a logger reads, a unix connection to a server
/// outside the tree. While one descriptor of such a file stays open, the
/// other side sees neither an end of file nor a hang-up, and the restore
/// takes the very file back (OutsideHolder with `keeper`), so the program
/// carries on with the same pipe or connection and whatever is queued in
/// it.
///
/// crtool-keeper is started at the first file the dump gives it. Until
/// `commit` it lets everything go when crtool closes its end or dies, and
/// a dump that fails ends it (`abandon`), so nothing stays held; after
/// `finish` it stays until the restore ends it.
final class ExternalKeeper {
    private let imageDirectory: String
    private let executable: String
    private var running: (pid: Int32, startTime: UInt64, control: Int32)?
    private(set) var held = 0
    /// The keeper's pid once it was started.
    private(set) var pid: Int32?

    init(imageDirectory: String, executable: String = ExternalKeeper.defaultPath()) {
        self.imageDirectory = imageDirectory
        self.executable = executable
    }

    deinit { abandon() }

    /// crtool-keeper beside the running crtool binary.
    static func defaultPath() -> String {
        CompanionExecutable.path("crtool-keeper", environment: "CRTOOL_KEEPER")
    }

    /// For `crtool check`: whether `dump --hold-external` finds the keeper.
    static var hostFeature: KernelFeature {
        CompanionExecutable.feature("crtool-keeper (dump --hold-external)", at: defaultPath(), required: false,
                                    otherwise: "dumps with --hold-external fail")
    }

    /// Hands the keeper a copy of `local` (crtool's descriptor of the open
    /// file description the tree holds) and says where the restore finds it.
    func hold(_ local: Int32, what: String) throws -> OutsideHolder {
        let keeper = try started()
        if case .failure(let e) = Sockets.send(keeper.control, Array("H".utf8), rights: [local], flags: 0) {
            throw CheckpointError("\(what) could not be handed to crtool-keeper (pid \(keeper.pid)): \(e)")
        }
        let answer = try Sockets.receive(keeper.control, count: 4)
        guard answer.count == 4 else {
            throw CheckpointError("\(what) could not be handed to crtool-keeper (pid \(keeper.pid)): it ended")
        }
        held += 1
        var reader = LittleEndianReader(answer)
        let fd: Int32 = reader.read()
        return OutsideHolder(pid: keeper.pid, fd: fd, startTime: keeper.startTime, keeper: true)
    }

    /// Has the keeper end by itself once `pid` (started at `startTime`),
    /// and every other process it watches, has ended: the files it holds
    /// for them (their write trackers) serve nothing then, and a job that
    /// simply finishes after a pre-dump would otherwise leave its keeper
    /// behind for good. One gone already is told as such, without a pidfd.
    func watch(_ pid: Int32, startTime: UInt64, what: String) throws {
        let keeper = try started()
        // Opened first, so that the start time read after is of the very
        // process the pidfd refers to.
        let pidfd = (try? PidFD(pid: pid)).flatMap { (try? ProcStat.read(pid: pid))?.startTime == startTime ? $0 : nil }
        if case .failure(let e) = Sockets.send(keeper.control, Array("W".utf8), rights: pidfd.map { [$0.fd] } ?? [], flags: 0) {
            throw CheckpointError("crtool-keeper (pid \(keeper.pid)) could not be told to watch \(what): \(e)")
        }
        guard (try? Sockets.receive(keeper.control, count: 1)) == Array("W".utf8) else {
            throw CheckpointError("crtool-keeper (pid \(keeper.pid)) ended while it was told to watch \(what)")
        }
    }

    /// Tells the keeper to stay once crtool is gone, just before the image
    /// is committed; `abandon` still ends it if the commit fails.
    func commit() throws {
        guard let keeper = running else { return }
        _ = Sockets.send(keeper.control, Array("C".utf8), flags: 0)
        guard (try? Sockets.receive(keeper.control, count: 1)) == Array("C".utf8) else {
            throw CheckpointError("crtool-keeper (pid \(keeper.pid)), which holds \(held) files the tree shares outside it, ended before the image was complete")
        }
    }

    /// The image is committed: the keeper is the restore's to end.
    func finish() {
        guard let keeper = running else { return }
        close(keeper.control)
        running = nil
    }

    /// Ends the keeper, letting go of everything it holds: the dump failed.
    func abandon() {
        guard let keeper = running else { return }
        close(keeper.control)
        kill(keeper.pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(keeper.pid, &status, 0) < 0 && errno == EINTR {}
        running = nil
    }

    private func started() throws -> (pid: Int32, startTime: UInt64, control: Int32) {
        if let running { return running }
        let (mine, theirs) = try Sockets.pair(type: Int32(SOCK_SEQPACKET.rawValue))
        defer { close(theirs) }
        let pid: Int32
        do {
            pid = try CleanSpawn.spawn(executable, [imageDirectory], stdin: theirs, stdout: "/dev/null", stderr: "/dev/null")
        } catch {
            close(mine)
            throw CheckpointError("crtool-keeper, which would hold the files the tree shares outside it, did not start: \(error)")
        }
        let startTime: UInt64
        do {
            startTime = try ProcStat.read(pid: pid).startTime
        } catch {
            close(mine)
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            throw error
        }
        running = (pid, startTime, mine)
        self.pid = pid
        return (pid, startTime, mine)
    }
}
