import XCTest

/// Signal-driven I/O keeps working after a restore: a socket and a pipe
/// with O_ASYNC, owned by their process with their own signals, signal it
/// when written to. Without owner, signal or O_ASYNC they stay silent and
/// the fixture fails.
final class SignalDrivenIOTests: EndToEndCase {
    func testAsyncDescriptorsSignalTheirOwnerAfterRestore() throws {
        let fixture = try startFixture("sigio")
        try fixture.waitFor("tick", atLeast: 3)
        for _ in 1...2 {
            let (_, mark) = try roundTrip(fixture)
            try fixture.waitForMore("tick", 10, after: mark)
        }
        assertSequence(fixture, "tick", startingAt: 1)
        assertNoFailures(fixture)
    }
}
