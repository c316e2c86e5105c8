import Ptrace

/// Processes (not threads) that share memory, a descriptor table, a
/// working directory and root, or signal handlers, as clone without
/// CLONE_THREAD can make them. A restore makes every process its own of
/// each, so such a tree would come back with what it shared split in two:
/// the dump refuses it, naming the processes.
enum SharedTaskResources {
    static func refuseShared(_ pids: [Int32]) throws {
        guard pids.count > 1 else { return }
        for resource in KernelCompare.Resource.allCases {
            // Sorted by the kernel's order of the objects, sharers are
            // neighbours: n log n comparisons rather than n².
            var failure: Error?
            let sorted = pids.sorted { a, b in
                guard failure == nil else { return false }
                do { return try KernelCompare.order(resource, a, b) < 0 } catch { failure = error; return false }
            }
            if let failure { throw failure }
            for (a, b) in zip(sorted, sorted.dropFirst()) where try KernelCompare.order(resource, a, b) == 0 {
                throw CheckpointError("pids \(a) and \(b) share \(description(resource)) (\(resource.cloneFlag) without CLONE_THREAD); "
                    + "a restore would give each its own, so crtool cannot checkpoint them")
            }
        }
    }

    private static func description(_ resource: KernelCompare.Resource) -> String {
        switch resource {
        case .memory: return "one address space"
        case .fileTable: return "one file descriptor table"
        case .fileSystem: return "one working directory and root"
        case .signalHandlers: return "one table of signal handlers"
        }
    }
}
