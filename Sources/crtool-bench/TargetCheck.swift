/// One of the performance targets, judged against the measurements. Not
/// meeting one is a finding to report, not a failure of the bench.
struct TargetCheck {
    enum Outcome {
        case met
        case notMet
        /// The run did not include the cases the target needs.
        case notMeasured(String)
    }

    let claim: String
    let outcome: Outcome
    let numbers: String

    init(_ claim: String, met: Bool, _ numbers: String) {
        self.claim = claim
        self.outcome = met ? .met : .notMet
        self.numbers = numbers
    }

    init(_ claim: String, missing: String) {
        self.claim = claim
        self.outcome = .notMeasured(missing)
        self.numbers = ""
    }

    var line: String {
        switch outcome {
        case .met: return "target: \(claim): met (\(numbers))"
        case .notMet: return "target: \(claim): NOT met (\(numbers))"
        case .notMeasured(let why): return "target: \(claim): not measured (\(why))"
        }
    }
}
