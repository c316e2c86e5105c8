import Ptrace

/// Making the runs that were transparent huge pages huge again. Their
/// pages are written with process_vm_writev (UserfaultFill leaves them
/// out), so the first write into a run of a VMA that may have huge pages
/// faults one in, cleared once, instead of 512 small pages; MADV_COLLAPSE
/// then makes huge whatever did not come back so.
extension TransparentHugePages {
    private static let adviseHugePage: UInt64 = 14 // MADV_HUGEPAGE
    private static let populateWrite: UInt64 = 23 // MADV_POPULATE_WRITE
    private static let collapseAdvice: UInt64 = 25 // MADV_COLLAPSE

    /// MADV_HUGEPAGE, before any page is written, on the VMAs with runs
    /// that had it (smaps "hg"): on a host whose setting is "madvise" only
    /// such a VMA faults huge pages in. A refusal (a kernel without THP)
    /// is left to `finishMappings`, which advises them again with every
    /// other flag and warns of what it cannot set.
    static func advise(_ vmas: [VMAImage], inj: RemoteSyscall) throws {
        let advised = vmas.filter { $0.transparentHugePages != nil && $0.flags.contains("hg") }
        if advised.isEmpty { return }
        _ = try inj.callAll(advised.map { SyscallRequest(Syscall.madvise, $0.start, $0.size, adviseHugePage) })
    }

    /// MADV_POPULATE_WRITE, then MADV_COLLAPSE, on every run once the
    /// pages are written. Populating faults in what no write reached: a
    /// huge page of zeroes, whose pages the image does not store (a JVM's
    /// heap touched whole at its start is mostly such pages, and it asked
    /// for them to be there). Collapsing copies into a huge page a run that
    /// came back in small pages (a VMA without "hg" on a "madvise" host, or
    /// no huge page free at the time); a run that is huge already costs
    /// both a look at its entry. Only a VMA that is writable now can be
    /// populated: one with pages stored, or writable itself. The warning
    /// names how much stayed in small pages: slower for the program, the
    /// same bytes.
    static func collapse(_ vmas: [VMAImage], inj: RemoteSyscall, pid: Int32) throws -> [String] {
        let runs = vmas.filter { $0.pagesStored > 0 || $0.writable }.flatMap { $0.transparentHugePages ?? [] }
        guard !runs.isEmpty else { return [] }
        let results = try inj.callAll(runs.flatMap { run in
            [populateWrite, collapseAdvice].map { SyscallRequest(Syscall.madvise, run.address, UInt64(run.byteCount), $0) }
        })
        let failed = runs.indices.compactMap { i in results[2 * i + 1] < 0 ? (runs[i], results[2 * i + 1]) : nil }
        guard let first = failed.first else { return [] }
        let bytes = failed.reduce(UInt64(0)) { $0 + UInt64($1.0.byteCount) }
        return ["\(bytes >> 20) MiB of pid \(pid)'s memory that was in transparent huge pages came back in small pages "
                + "(MADV_COLLAPSE: \(ErrnoNames.name(Int32(-first.1))))"]
    }
}
