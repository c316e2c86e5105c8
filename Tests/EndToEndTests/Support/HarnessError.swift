/// A failure of the harness or of an expectation it waited for. The message
/// carries everything needed to judge the failure from the test report alone
/// (command lines, exit statuses, log tails), because the scratch directory
/// holding the logs is gone by the time anyone reads the report.
struct HarnessError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
