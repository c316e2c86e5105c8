import ArgumentParser

@main
struct Crtool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crtool",
        abstract: "Checkpoint and restore Linux processes.",
        discussion: "Save a running process to an image directory and bring it back later with the same PID, memory and threads.",
        version: "0.1.0",
        subcommands: [DumpCommand.self, PreDumpCommand.self, RestoreCommand.self, ShowCommand.self, CheckCommand.self]
    )

    static func main() {
        main(CriuOptionalValues.rewrite(CriuVerbosity.rewrite(Array(CommandLine.arguments.dropFirst()))))
    }
}
