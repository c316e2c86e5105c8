import Ptrace

/// What a restore checks of this host's CPU against the one an image was
/// made on (`crtool restore --cpu-cap`, CRIU's names).
public struct CPUChecks: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// The XSAVE state components the image's threads may hold.
    public static let fpu = CPUChecks(rawValue: 1)
    /// The instruction sets its programs may have chosen code for.
    public static let instructions = CPUChecks(rawValue: 2)
    public static let all: CPUChecks = [.fpu, .instructions]

    /// "fpu", "ins", "none", or several of the first two with commas.
    public init?(names: String) {
        var checks: CPUChecks = []
        for name in names.split(separator: ",", omittingEmptySubsequences: false) {
            switch name {
            case "fpu": checks.insert(.fpu)
            case "ins": checks.insert(.instructions)
            case "none": continue
            default: return nil
            }
        }
        self = checks
    }
}

/// Whether the processes of an image can run on this CPU. A program
/// picks code by the CPU's features once, when it starts (glibc's string
/// functions, a JIT's code, a library's fast paths), so one restored on a
/// CPU without a feature it picked stops on SIGILL later, at a moment
/// nobody connects with the restore. The register state of its threads
/// cannot even be loaded where a component is missing.
enum CPUCompatibility {
    /// The flags of /proc/cpuinfo that name instructions a program can
    /// use, as opposed to those that say how fast something is or what the
    /// kernel or a hypervisor does.
    static let instructionSets: Set<Substring> = [
        "cx8", "cmov", "mmx", "fxsr", "sse", "sse2", "pni", "ssse3", "sse4_1", "sse4_2", "sse4a", "cx16", "popcnt",
        "movbe", "aes", "pclmulqdq", "xsave", "xsaveopt", "xsavec", "avx", "f16c", "fma", "fma4", "xop", "tbm",
        "avx2", "bmi1", "bmi2", "abm", "adx", "rdrand", "rdseed", "sha_ni", "clflushopt", "clwb", "clzero",
        "rdpid", "rdtscp", "lahf_lm", "3dnowprefetch", "gfni", "vaes", "vpclmulqdq", "movdiri", "movdir64b",
        "serialize", "waitpkg", "cldemote", "rtm", "hle", "avx512f", "avx512dq", "avx512ifma", "avx512pf",
        "avx512er", "avx512cd", "avx512bw", "avx512vl", "avx512vbmi", "avx512_vbmi2", "avx512_vnni",
        "avx512_bitalg", "avx512_vpopcntdq", "avx512_4vnniw", "avx512_4fmaps", "avx512_vp2intersect",
        "avx512_bf16", "avx512_fp16", "avx_vnni", "avx_vnni_int8", "avx_ifma", "avx_ne_convert", "amx_tile",
        "amx_int8", "amx_bf16", "amx_fp16", "amx_complex", "cmpccxadd", "sha512", "sm3", "sm4", "pku",
    ]

    /// The XSAVE components by bit, as the kernel names them.
    static let componentNames: [Int: String] = [
        0: "x87", 1: "SSE", 2: "AVX", 3: "MPX bounds", 4: "MPX CSR", 5: "AVX-512 opmask",
        6: "AVX-512 ZMM_Hi256", 7: "AVX-512 Hi16_ZMM", 9: "PKRU", 17: "AMX TILECFG", 18: "AMX TILEDATA", 19: "APX",
    ]

    static func names(of components: UInt64) -> [String] {
        (0..<64).filter { components & (1 << UInt64($0)) != 0 }.map { componentNames[$0] ?? "component \($0)" }
    }

    /// Threads whose saved register state holds components this CPU
    /// lacks, which the restore leaves out (`XSaveArea.fitted`) when the
    /// user let such an image through: one warning per set of components,
    /// naming the threads, so a program that misbehaves later can be
    /// traced back to it.
    static func droppedRegisterState(_ processes: [ProcessImage], hostComponents: UInt64) -> [String] {
        var threads: [UInt64: [Int32]] = [:]
        for process in processes {
            for thread in process.threads {
                let missing = XSaveArea.components(of: [UInt8](thread.extendedState)) & ~hostComponents
                if missing != 0 { threads[missing, default: []].append(thread.tid) }
            }
        }
        return threads.keys.sorted().map { missing in
            let tids = threads[missing]!.sorted().map(String.init).joined(separator: ", ")
            return "register state \(names(of: missing).joined(separator: ", ")) of thread\(threads[missing]!.count == 1 ? "" : "s") \(tids) is left out: "
                + "this CPU cannot hold it, so those registers start in their initial state"
        }
    }

    /// What the image's CPU had that this one lacks, one sentence part
    /// each; empty when it can run here as far as `checks` look.
    static func problems(image: HostCPU, host: HostCPU, checks: CPUChecks) -> [String] {
        var problems: [String] = []
        if checks.contains(.fpu) {
            let missing = image.xfeatures & ~host.xfeatures
            if missing != 0 {
                problems.append("register state \(names(of: missing).joined(separator: ", ")) (xfeatures 0x\(String(image.xfeatures, radix: 16)) there, 0x\(String(host.xfeatures, radix: 16)) here), which its threads may hold")
            }
        }
        if checks.contains(.instructions) {
            let missing = image.flagSet.intersection(instructionSets).subtracting(host.flagSet).sorted()
            if !missing.isEmpty {
                problems.append("the instruction set\(missing.count == 1 ? "" : "s") \(missing.joined(separator: ", ")), which its programs may have chosen code for and would stop on with SIGILL")
            }
        }
        return problems
    }

    /// Refuses an image made on a CPU with what this one lacks. Images
    /// that recorded no CPU pass.
    static func require(_ manifest: Manifest, checks: CPUChecks, host: HostCPU? = HostCPU.current()) throws {
        guard let image = manifest.cpu, let host, !checks.isEmpty else { return }
        let problems = problems(image: image, host: host, checks: checks)
        guard !problems.isEmpty else { return }
        throw CheckpointError("the image was made on a CPU (\(image.model)) that has what this CPU (\(host.model)) lacks: "
            + problems.joined(separator: "; ") + " (\(ManifestFile.name), field cpu). Restore it on such a CPU, or with --cpu-cap none to take the risk")
    }
}
