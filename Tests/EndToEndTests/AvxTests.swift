import XCTest

/// The full YMM state survives, wherever in the vector loop the dump lands;
/// three round trips make a landing outside the loop unlikely every time.
final class AvxTests: EndToEndCase {
    func testYmmRegistersSurviveRepeatedRestores() throws {
        let avx = try startFixture("avx")
        try avx.waitFor("avx", atLeast: 1)
        for round in 1...3 {
            let (_, mark) = try roundTrip(avx)
            let last = try XCTUnwrap(avx.numbers("avx", before: mark).last)
            let step = 16 << 20
            try avx.waitFor("avx", atLeast: last + 2 * step, from: mark)
            XCTAssertEqual(avx.numbers("avx", from: mark).first, last + step, "round \(round)")
        }
        assertNoFailures(avx)
    }
}
