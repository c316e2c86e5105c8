import Foundation

/// How many pipe bytes an image saved: the sum of the "data" of every
/// pipe and FIFO descriptor in the process metadata. Tests use it to show
/// a pipe was really full when it was checkpointed, so carrying on without
/// a gap proves the bytes were put back.
func savedPipeBytes(in directory: String, pid: pid_t) throws -> Int {
    let path = try ImageFiles(directory: directory, pid: pid).processFile()
    guard let bytes = readWholeFile(path),
          let json = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
          let files = json["files"] as? [[String: Any]] else {
        throw HarnessError("\(path) has no \"files\" list")
    }
    return files.reduce(0) { sum, file in
        let encoded = (file["pipe"] as? [String: Any])?["data"] as? String
        return sum + (encoded.flatMap { Data(base64Encoded: $0)?.count } ?? 0)
    }
}
