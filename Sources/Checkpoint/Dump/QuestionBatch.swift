import Ptrace

/// The questions a dump asks a frozen thread by injected calls, gathered
/// so that they all go in one trip into it: each trip costs two context
/// switches and a handful of ptrace calls (some 70 µs here), and a
/// process used to take six of them. Readers add their calls and the
/// scratch room their answers are written into, and get back a decoder
/// for what the trip brings.
struct QuestionBatch {
    /// Each call with what it asks, for the error naming it; nil where a
    /// failure is itself the answer.
    private(set) var calls: [(what: String?, request: SyscallRequest)] = []
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
        calls.append((what, request))
        return calls.count - 1
    }

    /// Runs every call in one trip (`callAll` splits a table too long for
    /// the scratch area) and fetches the answers in one read.
    func run(_ injection: RemoteSyscall) throws -> QuestionAnswers {
        guard answerBytes <= answerLimit else {
            throw TraceError(pid: injection.tracee.pid, "\(answerBytes) bytes of answers do not fit the \(answerLimit) bytes of scratch below the batch runner")
        }
        let results = try injection.callAll(calls.map(\.request))
        try injection.requireSucceeded(results, of: calls)
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
