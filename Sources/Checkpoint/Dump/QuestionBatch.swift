import Ptrace

/// The questions a dump asks a frozen thread by injected calls, gathered
/// so that they all go in one trip into it: each trip costs two context
/// switches and a handful of ptrace calls (some 70 µs here), and a
/// process used to take six of them. Readers add their calls and the
/// scratch room their answers are written into, and get back a decoder
/// for what the trip brings.
struct QuestionBatch {
    private(set) var requests: [SyscallRequest] = []
    /// What each call asks, for the error naming it; nil where a failure
    /// is itself the answer.
    private var purposes: [String?] = []
    /// Scratch bytes taken so far, from offset 0.
    private(set) var answerBytes = 0
    let scratch: UInt64
    /// The answers must stay below this offset (the batch runner's code).
    let answerLimit: Int

    init(scratch: UInt64, answerLimit: Int) {
        self.scratch = scratch
        self.answerLimit = answerLimit
    }

    /// Room for `count` bytes of answer; returns its scratch offset,
    /// 8-byte aligned.
    mutating func room(_ count: Int) -> Int {
        let at = answerBytes
        answerBytes += (count + 7) & ~7
        return at
    }

    /// The remote address of scratch offset `offset`.
    func address(_ offset: Int) -> UInt64 { scratch + UInt64(offset) }

    /// Adds a call whose failure fails the dump (`what` names it), or,
    /// with `what` nil, one whose result is read as it is. Returns its
    /// index among the results.
    @discardableResult
    mutating func ask(_ what: String?, _ request: SyscallRequest) -> Int {
        requests.append(request)
        purposes.append(what)
        return requests.count - 1
    }

    /// Runs every call in one trip (`callAll` splits a table too long for
    /// the scratch area) and fetches the answers in one read.
    func run(_ injection: RemoteSyscall) throws -> QuestionAnswers {
        guard answerBytes <= answerLimit else {
            throw TraceError(pid: injection.tracee.pid, "\(answerBytes) bytes of answers do not fit the \(answerLimit) bytes of scratch below the batch runner")
        }
        let results = try injection.callAll(requests)
        for (i, what) in purposes.enumerated() {
            guard let what, results[i] < 0, results[i] > -4096 else { continue }
            throw SystemError("injected \(SyscallNames.name(requests[i].nr)) (\(what)) in thread \(injection.tracee.tid)",
                              pid: injection.tracee.pid, errno: Int32(-results[i]))
        }
        let bytes = answerBytes == 0 ? [] : try injection.fetch(at: 0, count: answerBytes)
        return QuestionAnswers(results: results, bytes: bytes)
    }
}

/// What a QuestionBatch's trip brought back: each call's raw result and
/// the scratch bytes the calls wrote.
struct QuestionAnswers {
    var results: [Int64]
    var bytes: [UInt8]
}
