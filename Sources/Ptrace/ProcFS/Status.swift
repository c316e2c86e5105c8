/// /proc/PID/status, the fields crtool needs, typed.
public struct ProcStatus: Equatable, Sendable {
    public var name: String
    public var state: String
    public var tgid: Int32
    public var pid: Int32
    public var ppid: Int32
    /// The thread (a TID, not a process) that traces this one; 0 when none.
    public var tracerPid: Int32
    public var umask: UInt32?
    /// real, effective, saved, filesystem
    public var uids: [UInt32]
    public var gids: [UInt32]
    public var groups: [UInt32]
    public var capInheritable: UInt64
    public var capPermitted: UInt64
    public var capEffective: UInt64
    public var capBounding: UInt64
    public var capAmbient: UInt64
    public var noNewPrivs: Bool
    public var seccompMode: Int
    public var threads: Int
    public var signalsBlocked: UInt64
    public var signalsIgnored: UInt64
    public var signalsCaught: UInt64
    /// Signals pending for the thread (SigPnd) and for the whole process
    /// (ShdPnd).
    public var signalsPending: UInt64
    public var signalsPendingShared: UInt64
    public var fields: [String: String]

    /// Whether the thread runs with a user shadow stack (CET), which
    /// checks every return, rt_sigreturn's too.
    public var shadowStackEnabled: Bool {
        fields["x86_Thread_features"]?.split(separator: " ").contains("shstk") ?? false
    }

    /// The thread's id in each PID namespace it is in, from the reader's
    /// (NSpid: the first is the one /proc was opened with) down to its
    /// own; for a thread group, the process's pids. Empty on a kernel
    /// without the field.
    public var namespaceIDs: [Int32] { numbers("NSpid") }

    /// The thread group's pids likewise (NStgid).
    public var namespaceGroupIDs: [Int32] { numbers("NStgid") }

    private func numbers(_ key: String) -> [Int32] {
        (fields[key] ?? "").split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { Int32($0) }
    }

    public static func read(pid: Int32) throws -> ProcStatus {
        try parse(ProcFile.text("/proc/\(pid)/status", pid: pid), file: "/proc/\(pid)/status")
    }

    public static func read(pid: Int32, tid: Int32) throws -> ProcStatus {
        try parse(ProcFile.text("/proc/\(pid)/task/\(tid)/status", pid: pid), file: "/proc/\(pid)/task/\(tid)/status")
    }

    public static func parse(_ text: String, file: String = "status") throws -> ProcStatus {
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[line.startIndex..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: " \t")
        }
        func need(_ key: String) throws -> String {
            guard let v = fields[key] else { throw ProcParseError(file: file, line: key, reason: "missing field \(key)") }
            return v
        }
        func int(_ key: String) throws -> Int32 {
            guard let v = Int32(try need(key)) else { throw ProcParseError(file: file, line: fields[key] ?? "", reason: "\(key) is not a number") }
            return v
        }
        func ids(_ key: String) throws -> [UInt32] {
            try need(key).split(whereSeparator: { $0 == " " || $0 == "\t" }).map {
                guard let v = UInt32($0) else { throw ProcParseError(file: file, line: fields[key] ?? "", reason: "\(key) holds a non-number") }
                return v
            }
        }
        func hex(_ key: String) -> UInt64 { fields[key].flatMap { UInt64($0, radix: 16) } ?? 0 }
        return ProcStatus(
            name: fields["Name"] ?? "",
            state: fields["State"] ?? "",
            tgid: try int("Tgid"), pid: try int("Pid"), ppid: try int("PPid"),
            tracerPid: fields["TracerPid"].flatMap { Int32($0) } ?? 0,
            umask: fields["Umask"].flatMap { UInt32($0, radix: 8) },
            uids: try ids("Uid"), gids: try ids("Gid"),
            groups: (fields["Groups"] ?? "").split(separator: " ").compactMap { UInt32($0) },
            capInheritable: hex("CapInh"), capPermitted: hex("CapPrm"), capEffective: hex("CapEff"),
            capBounding: hex("CapBnd"), capAmbient: hex("CapAmb"),
            noNewPrivs: fields["NoNewPrivs"] == "1",
            seccompMode: fields["Seccomp"].flatMap { Int($0) } ?? 0,
            threads: fields["Threads"].flatMap { Int($0) } ?? 1,
            signalsBlocked: hex("SigBlk"), signalsIgnored: hex("SigIgn"), signalsCaught: hex("SigCgt"),
            signalsPending: hex("SigPnd"), signalsPendingShared: hex("ShdPnd"),
            fields: fields)
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        var s = self[...]
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
