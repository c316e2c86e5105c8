/// Turns Codable's errors into messages that point at the JSON field, e.g.
/// "processes[0].pid", instead of Swift type names and coding-key dumps.
extension ImageError {
    init(file: String, decoding error: DecodingError) {
        switch error {
        case let .keyNotFound(key, context):
            self.init(file: file, field: Self.path(context.codingPath + [key]), reason: "missing")
        case let .typeMismatch(type, context):
            self.init(file: file, field: Self.path(context.codingPath),
                      reason: "expected \(Self.jsonName(of: type)): \(context.debugDescription)")
        case let .valueNotFound(type, context):
            self.init(file: file, field: Self.path(context.codingPath),
                      reason: "null where \(Self.jsonName(of: type)) is expected")
        case let .dataCorrupted(context):
            if context.codingPath.isEmpty {
                let detail = context.underlyingError.map { " (\($0))" } ?? ""
                self.init(file: file, field: "(document)", reason: "not valid JSON: \(context.debugDescription)\(detail)")
            } else {
                self.init(file: file, field: Self.path(context.codingPath), reason: context.debugDescription)
            }
        @unknown default:
            self.init(file: file, field: "(document)", reason: "\(error)")
        }
    }

    static func path(_ keys: [CodingKey]) -> String {
        var text = ""
        for key in keys {
            let name = key.stringValue
            if let index = key.intValue, name == "Index \(index)" {
                text += "[\(index)]"
            } else if !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) {
                text += text.isEmpty ? name : ".\(name)"
            } else {
                // Dictionary keys such as file names: "files[\"pages-1.img\"]".
                text += "[\"\(name)\"]"
            }
        }
        return text.isEmpty ? "(document)" : text
    }

    private static func jsonName(of type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Bool.Type: return "a boolean"
        case is Int.Type, is Int32.Type, is Int64.Type, is UInt32.Type, is UInt64.Type, is UInt8.Type, is UInt16.Type, is Int16.Type, is Int8.Type, is UInt.Type:
            return "an integer (\(type))"
        case is Double.Type, is Float.Type: return "a number"
        default: return "\(type)"
        }
    }
}
