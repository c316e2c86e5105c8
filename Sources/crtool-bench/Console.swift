import Foundation

/// Progress goes to stderr so that stdout holds only the report, ready to
/// be redirected into a file.
enum Console {
    static func note(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}
