import ArgumentParser
import Checkpoint
import Ptrace

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check that this kernel has what crtool needs, one line per feature."
    )

    func run() throws {
        let features = try TracerThread.run { KernelFeatures.probeAll() } + HostFeatures.probeAll()
        print("kernel \(KernelInfoLine.release())")
        for f in features {
            let mark = f.available ? "ok     " : (f.required ? "MISSING" : "absent ")
            print("\(mark) \(f.name)\(f.detail.isEmpty ? "" : ": \(f.detail)")")
        }
        let missing = features.filter { $0.required && !$0.available }
        if !missing.isEmpty {
            printError("crtool check: \(missing.count) required feature\(missing.count == 1 ? " is" : "s are") missing")
            throw ExitCode(1)
        }
        print("looks good: everything crtool needs is there")
    }
}

enum KernelInfoLine {
    static func release() -> String {
        ((try? ProcFile.text("/proc/sys/kernel/osrelease")) ?? "unknown").filter { $0 != "\n" }
    }
}
