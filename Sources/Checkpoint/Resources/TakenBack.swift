import Glibc
import Ptrace

/// Open files the restore takes back from the process outside the image
/// that held them meanwhile (OutsideHolder): a listener its supervisor
/// keeps, or any file crtool-keeper kept since the dump.
enum TakenBack {
    /// crtool's descriptor of `f`, taken from its holder, which must be
    /// the same process and still hold the same file.
    static func file(_ f: FileDescriptorImage, from holder: OutsideHolder, pid: Int32) throws -> Int32 {
        let who = holder.isKeeper ? "kept by crtool-keeper pid \(holder.pid) since the dump" : "also held by pid \(holder.pid) fd \(holder.fd)"
        let what = "fd \(f.fd) of pid \(pid), \(describe(f)) \(who)"
        guard isRunning(holder) else {
            let gone = holder.isKeeper ? "that crtool-keeper has ended (the image was restored already, it was killed, or this is not the host the image was made on)"
                : "pid \(holder.pid) is no longer the process that held it"
            throw CheckpointError("\(what), cannot be taken back: \(gone)")
        }
        let local: Int32
        do {
            local = try PidFD(pid: holder.pid).duplicate(holder.fd)
        } catch let e as SystemError {
            throw CheckpointError("\(what), cannot be taken back: \(e.errnoName) from pidfd_getfd")
        }
        var st = stat()
        guard fstat(local, &st) == 0, UInt64(st.st_ino) == f.inode, st.st_mode & S_IFMT == fileType(of: f.kind) else {
            close(local)
            throw CheckpointError("\(what), cannot be taken back: that process's fd \(holder.fd) is another file now")
        }
        return local
    }

    /// The check a restore makes before it creates any process that each
    /// file it will take back is still held as it was: a keeper ended, or
    /// a holder gone, would otherwise fail the restore once the processes
    /// exist. Each file is taken as the restore takes it, and closed
    /// again; the holder keeps its own.
    static func requireHeld(_ processes: [ProcessImage]) throws {
        var problems: [String] = []
        var tried: Set<Int> = []
        for p in processes {
            for f in p.files {
                guard let holder = f.heldOutside, f.external != true, tried.insert(f.openFile).inserted else { continue }
                do {
                    close(try file(f, from: holder, pid: p.pid))
                } catch {
                    problems.append("\(error)")
                }
            }
        }
        guard !problems.isEmpty else { return }
        throw CheckpointError(problems.joined(separator: "; "))
    }

    /// Ends every crtool-keeper the image names, once the restored tree
    /// holds all it kept: a keeper left running would hold each pipe's
    /// end and each connection open after the program closed its own.
    /// Returns the keepers ended, and a warning for one that cannot be.
    static func endKeepers(of processes: [ProcessImage]) -> (ended: [Int32], warnings: [String]) {
        var keepers: [Int32: UInt64] = [:]
        for p in processes {
            for f in p.files { if let h = f.heldOutside, h.isKeeper { keepers[h.pid] = h.startTime } }
        }
        var warnings: [String] = []
        var ended: [Int32] = []
        for (pid, startTime) in keepers.sorted(by: { $0.key < $1.key }) {
            switch endKeeper(OutsideHolder(pid: pid, fd: 0, startTime: startTime, keeper: true)) {
            case .success(true): ended.append(pid)
            case .success(false): break
            case .failure(let e): warnings.append("crtool-keeper pid \(pid) could not be ended (\(e.errnoName)); it still holds the files it kept since the dump")
            }
        }
        return (ended, warnings)
    }

    /// Ends the keeper `holder` names if it still runs: true when it was
    /// ended, false when it was gone already.
    static func endKeeper(_ holder: OutsideHolder) -> Result<Bool, SystemError> {
        guard holder.isKeeper, isRunning(holder) else { return .success(false) }
        return kill(holder.pid, SIGKILL) == 0 ? .success(true) : .failure(SystemError("kill of crtool-keeper", pid: holder.pid))
    }

    /// The holder's process is still the one that held the file, and
    /// has not exited (a zombie holds nothing); a keeper must still be a
    /// crtool-keeper, so that an image never has another program ended.
    static func isRunning(_ holder: OutsideHolder) -> Bool {
        guard let stat = try? ProcStat.read(pid: holder.pid) else { return false }
        return stat.startTime == holder.startTime && stat.state != "Z" && stat.state != "X"
            && (!holder.isKeeper || stat.command == "crtool-keeper")
    }

    private static func describe(_ f: FileDescriptorImage) -> String {
        switch f.kind {
        case .pipe, .fifo, .unixSocket, .inetSocket, .rawSocket, .netlinkSocket, .packetSocket:
            return "\(f.path)"
        default:
            return "\(f.kind.rawValue) \(f.path)"
        }
    }

    private static func fileType(of kind: FileDescriptorImage.Kind) -> mode_t {
        switch kind {
        case .pipe, .fifo: return S_IFIFO
        case .unixSocket, .inetSocket, .rawSocket, .netlinkSocket, .packetSocket: return S_IFSOCK
        case .directory: return S_IFDIR
        case .characterDevice, .terminal, .ptyMaster: return S_IFCHR
        default: return S_IFREG
        }
    }
}
