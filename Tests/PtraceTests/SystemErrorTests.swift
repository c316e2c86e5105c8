import Glibc
import Ptrace
import XCTest

/// An error names the errno constant a user would look up, for the
/// socket and file errors restores meet as much as for the common ones.
final class SystemErrorTests: XCTestCase {
    func testErrnoValuesAreNamedAsTheHeadersNameThem() {
        let expected: [(Int32, String)] = [(EPERM, "EPERM"), (ENOENT, "ENOENT"), (EAGAIN, "EAGAIN"), (ECONNREFUSED, "ECONNREFUSED"),
                                           (EADDRINUSE, "EADDRINUSE"), (EADDRNOTAVAIL, "EADDRNOTAVAIL"), (ENOTCONN, "ENOTCONN"),
                                           (EOPNOTSUPP, "EOPNOTSUPP"), (ETXTBSY, "ETXTBSY"), (EXDEV, "EXDEV"), (EDEADLK, "EDEADLK"),
                                           (EHWPOISON, "EHWPOISON")]
        for (code, name) in expected {
            XCTAssertEqual(SystemError("connect", errno: code).errnoName, name)
        }
        XCTAssertEqual(SystemError("connect", errno: 4095).errnoName, "errno 4095")
    }

    func testTheDescriptionSaysWhatFailedForWhomAndWhy() {
        let e = SystemError("connecting fd 3", pid: 42, errno: ECONNREFUSED)
        XCTAssertEqual(e.description, "connecting fd 3 for pid 42 failed: Connection refused (ECONNREFUSED)")
    }
}
