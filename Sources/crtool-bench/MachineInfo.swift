import Foundation

/// What the numbers were measured on, printed with them: bandwidths mean
/// little without the core count, the kernel and whether it is a VM.
enum MachineInfo {
    static func summary() -> String {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let memory = Double(ProcessInfo.processInfo.physicalMemory) / Double(1 << 30)
        var parts = ["\(cores) cores", cpuModel(), String(format: "%.1f GiB RAM", memory), "Linux \(kernelRelease())"]
        if runsUnderHypervisor() { parts.append("virtual machine") }
        parts.append("/tmp on \(filesystem(of: "/tmp"))")
        return parts.joined(separator: ", ")
    }

    /// The 1, 5 and 15 minute load averages: anything else running on
    /// two cores shows up directly in the timings.
    static func loadAverage() -> String {
        let text = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? ""
        return text.split(separator: " ").prefix(3).joined(separator: " ")
    }

    static func kernelRelease() -> String {
        ((try? String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8)) ?? "unknown")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private static func cpuinfo() -> [String] {
        ((try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    private static func cpuModel() -> String {
        guard let line = cpuinfo().first(where: { $0.hasPrefix("model name") }),
              let colon = line.firstIndex(of: ":") else { return "unknown CPU" }
        return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }

    private static func runsUnderHypervisor() -> Bool {
        cpuinfo().contains { $0.hasPrefix("flags") && $0.split(separator: " ").contains("hypervisor") }
    }

    /// The type of the mount holding `path`: the longest mount point that
    /// is a prefix of it.
    static func filesystem(of path: String) -> String {
        let mounts = ((try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? "").split(separator: "\n")
        var best: (point: String, type: String) = ("", "unknown")
        for line in mounts {
            let fields = line.split(separator: " ")
            guard fields.count > 2 else { continue }
            let point = String(fields[1])
            let covers = path == point || path.hasPrefix(point == "/" ? "/" : point + "/")
            if covers && point.count >= best.point.count { best = (point, String(fields[2])) }
        }
        return best.type
    }
}
