/// CRIU's verbosity arguments, which scripts written for it pass almost
/// always (`-v4 -o dump.log`): -vN, -v…v and --verbosity[=N] are turned
/// into crtool's -q (level 0) and -v (level 3 and up, CRIU's information
/// and debug), and dropped for levels 1 and 2 (errors, warnings: what
/// crtool says anyway), and for commands without -q and -v.
enum CriuVerbosity {
    static let commandsWithVerbosity: Set<String> = ["dump", "pre-dump", "restore"]

    static func rewrite(_ arguments: [String]) -> [String] {
        let speaks = arguments.first.map { commandsWithVerbosity.contains($0) } ?? false
        // Nothing after "--" is an option.
        let end = arguments.firstIndex(of: "--") ?? arguments.endIndex
        let options = arguments[..<end].flatMap { argument -> [String] in
            guard let level = level(of: argument) else { return [argument] }
            guard speaks else { return [] }
            return level == 0 ? ["-q"] : level >= 3 ? ["-v"] : []
        }
        return options + arguments[end...]
    }

    /// The CRIU level an argument asks for; nil for any other argument,
    /// crtool's own -v among them (kept as it is).
    static func level(of argument: String) -> Int? {
        if argument == "--verbosity" { return 3 }
        if argument.hasPrefix("--verbosity=") { return Int(argument.dropFirst("--verbosity=".count)) }
        guard argument.hasPrefix("-v"), argument != "-v" else { return nil }
        let rest = argument.dropFirst(2)
        if let n = Int(rest), n >= 0 { return n }
        // -vv, -vvv: one level above the default (2) per v.
        return rest.allSatisfy { $0 == "v" } ? 2 + rest.count + 1 : nil
    }
}
