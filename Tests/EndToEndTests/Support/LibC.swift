import Glibc

/// C functions the Glibc Swift module leaves out: the pseudo-terminal and
/// posix_spawn extensions sit behind feature macros, prctl is variadic, and
/// flock is hidden behind the struct of the same name.
/// Each is resolved once, by name, from the C library already loaded.
enum LibC {
    private static func symbol<T>(_ name: String, as type: T.Type) -> T {
        guard let address = dlsym(nil, name) else {
            fatalError("the C library has no \(name)")
        }
        return unsafeBitCast(address, to: type)
    }

    /// Called through a fixed five-argument prototype: on x86-64 a variadic
    /// callee with only integer arguments receives them the same way.
    static let prctl = symbol(
        "prctl", as: (@convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32).self)

    static let posixOpenpt = symbol("posix_openpt", as: (@convention(c) (Int32) -> Int32).self)
    static let grantpt = symbol("grantpt", as: (@convention(c) (Int32) -> Int32).self)
    static let unlockpt = symbol("unlockpt", as: (@convention(c) (Int32) -> Int32).self)
    static let ptsnameR = symbol(
        "ptsname_r", as: (@convention(c) (Int32, UnsafeMutablePointer<CChar>, Int) -> Int32).self)

    static let flock = symbol("flock", as: (@convention(c) (Int32, Int32) -> Int32).self)

    static let PR_SET_CHILD_SUBREAPER: Int32 = 36
}

/// The text of an errno value, for messages.
func errnoText(_ code: Int32 = errno) -> String {
    String(cString: strerror(code))
}

/// The path as mountinfo and getcwd give it, without the doubled slashes
/// of a scratch path.
func canonical(_ path: String) throws -> String {
    guard let resolved = realpath(path, nil) else { throw HarnessError("realpath \(path): \(errnoText())") }
    defer { free(resolved) }
    return String(cString: resolved)
}

/// The device of the file system `path` is on (st_dev): which devpts
/// instance a terminal is of.
func fileSystemDevice(of path: String) throws -> UInt64 {
    var st = stat()
    guard stat(path, &st) == 0 else { throw HarnessError("stat \(path): \(errnoText())") }
    return UInt64(st.st_dev)
}
