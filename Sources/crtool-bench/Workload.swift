/// What the fixture's heap holds. `half` has every other page zero
/// (touched, so present), which the dump must skip; `random` has nothing
/// to skip or compress, the worst case for both.
enum Workload: String, CaseIterable {
    case half
    case random

    var fixtureArguments: [String] {
        self == .half ? ["--zero-half"] : []
    }
}
