import Foundation
import Ptrace

/// Checks that the process metadata agrees with the manifest and with
/// itself, so a hostile image fails with a message instead of a crash.
enum ImageConsistency {
    static func check(_ p: ProcessImage, entry: ProcessEntry, manifest: Manifest) throws {
        let file = "process-\(entry.pid).json"
        func fail(_ field: String, _ reason: String) -> ImageError { ImageError(file: file, field: field, reason: reason) }
        guard p.pid == entry.pid else { throw fail("pid", "is \(p.pid) but manifest.json says \(entry.pid)") }
        guard p.pid > 1 else { throw fail("pid", "\(p.pid) cannot be restored") }
        guard p.threads.contains(where: { $0.tid == p.pid }) else { throw fail("threads", "no thread has the process's own id \(p.pid)") }
        guard Set(p.threads.map(\.tid)).count == p.threads.count, p.threads.allSatisfy({ $0.tid > 0 }) else {
            throw fail("threads", "thread ids are not unique positive numbers")
        }
        guard manifest.files[p.pagesFile] != nil, !p.pagesFile.contains("/") else {
            throw fail("pagesFile", "\(p.pagesFile) is not a file of this image")
        }
        var lastEnd: UInt64 = 0
        for (i, v) in p.vmas.enumerated() {
            guard v.start % 4096 == 0, v.end % 4096 == 0, v.start < v.end, v.start >= lastEnd else {
                throw fail("vmas[\(i)]", "range 0x\(String(v.start, radix: 16))-0x\(String(v.end, radix: 16)) is not page aligned, empty, or overlaps the previous one")
            }
            guard v.protection.count == 4 else { throw fail("vmas[\(i)].protection", "\"\(v.protection)\" is not like \"rw-p\"") }
            guard v.pagesStored <= v.size / 4096 else { throw fail("vmas[\(i)].pagesStored", "more pages than the VMA holds") }
            if let page = v.hugePageSize, !HugePageSizes.valid(page, size: v.size) || v.start % page != 0 {
                throw fail("vmas[\(i)].hugePageSize", "\(page) is not a huge page size the VMA at 0x\(String(v.start, radix: 16)) is aligned to")
            }
            if let runs = v.transparentHugePages, let reason = Self.hugePageRunsProblem(runs, in: v) {
                throw fail("vmas[\(i)].transparentHugePages", reason)
            }
            if v.kind == .aioRing {
                guard let ring = v.aioRing else { throw fail("vmas[\(i)].aioRing", "missing for a VMA of kind aioRing") }
                guard ring.slots > 1, UInt64(ring.slots) == AioRingLayout.slots(forSize: v.size), ring.head < ring.slots, ring.tail < ring.slots else {
                    throw fail("vmas[\(i)].aioRing", "\(ring.slots) slots with head \(ring.head) and tail \(ring.tail) is not a ring of \(v.size) bytes")
                }
                guard ring.completed.count == ring.completedCount * AioRingLayout.eventSize, v.pagesStored == 0 else {
                    throw fail("vmas[\(i)].aioRing.completed", "holds \(ring.completed.count) bytes, not the \(ring.completedCount) events from head to tail")
                }
            }
            lastEnd = v.end
        }
        for (i, m) in (p.mappedFiles ?? []).enumerated() {
            guard m.path.hasPrefix("/") else { throw fail("mappedFiles[\(i)].path", "\"\(m.path)\" is not an absolute path") }
            if let id = m.buildID, id.isEmpty || id.count > 128 || id.count % 2 != 0 || !id.allSatisfy(\.isHexDigit) {
                throw fail("mappedFiles[\(i)].buildID", "\"\(id)\" is not a build id in hex")
            }
        }
        for (i, f) in p.files.enumerated() where f.fd < 0 || f.path.isEmpty {
            throw fail("files[\(i)]", "fd \(f.fd) with path \"\(f.path)\" is not valid")
        }
        for (i, f) in p.files.enumerated() {
            if let size = f.size, size < 0 { throw fail("files[\(i)].size", "\(size) is not a file length") }
            if let socket = f.inetSocket {
                if let table = socket.networkLock, !TCPConnectionImage.isTableName(table) {
                    throw fail("files[\(i)].inetSocket.networkLock", "\"\(table)\" is not a table name crtool makes")
                }
                if let bad = socket.connecting?.invalidField { throw fail("files[\(i)].inetSocket.connecting.\(bad.field)", bad.reason) }
                if let bad = socket.connection?.invalidField { throw fail("files[\(i)].inetSocket.connection.\(bad.field)", bad.reason) }
                if let bad = socket.queue.flatMap(QueuedDatagramImage.invalidField) { throw fail("files[\(i)].inetSocket.\(bad.field)", bad.reason) }
                let connection = socket.connection != nil ? "an established TCP connection"
                    : socket.connecting != nil ? "a TCP connection being made" : nil
                if let connection, socket.local == nil || socket.transport != .tcp {
                    throw fail("files[\(i)].inetSocket.local", "\(connection) needs its local address")
                }
            }
            if f.external == true && f.path.isEmpty {
                throw fail("files[\(i)].path", "a file left out at the dump (external) needs the name --inherit-fd gives it by")
            }
            if let bad = f.pipe?.invalidPacketsField {
                throw fail("files[\(i)].pipe.\(bad.field)", bad.reason)
            }
            if let bad = f.heldOutside?.invalidField {
                throw fail("files[\(i)].heldOutside.\(bad.field)", bad.reason)
            }
            if let bad = f.packetSocket?.receiveRing?.invalidField {
                throw fail("files[\(i)].packetSocket.receiveRing.\(bad.field)", bad.reason)
            }
            if let bad = f.unixSocket?.journalStream?.invalidField {
                throw fail("files[\(i)].unixSocket.journalStream.\(bad.field)", bad.reason)
            }
            if f.kind == .messageQueue && f.messageQueue == nil && f.external != true {
                throw fail("files[\(i)].messageQueue", "a message queue's descriptor without its queue")
            }
            if f.kind == .fanotify && f.fanotify == nil {
                throw fail("files[\(i)].fanotify", "a fanotify descriptor without its group")
            }
            if let bad = f.fanotify?.invalidField {
                throw fail("files[\(i)].fanotify.\(bad.field)", bad.reason)
            }
            if f.kind == .tun && f.tunFile == nil {
                throw fail("files[\(i)].tunFile", "a tun descriptor without its queue's state")
            }
            if let bad = f.tunFile?.invalidField {
                throw fail("files[\(i)].tunFile.\(bad.field)", bad.reason)
            }
            if let state = f.tunFile, let device = state.device {
                guard device.device.name == state.interface, f.networkNamespace == nil else {
                    throw fail("files[\(i)].tunFile.device", "a device made with a queue is the one it is attached to, in crtool's namespace")
                }
                try NetworkDevicesCheck.checkTun(device, file: file, field: "files[\(i)].tunFile.device")
                try NetworkDevicesCheck.checkRoutes(state.routes ?? [], through: device.device.name, file: file, field: "files[\(i)].tunFile.routes")
            } else if f.tunFile?.routes != nil {
                throw fail("files[\(i)].tunFile.routes", "routes without the device they go through")
            }
            if let bad = f.messageQueue?.invalidField {
                throw fail("files[\(i)].messageQueue.\(bad.field)", bad.reason)
            }
            for (j, lock) in (f.locks ?? []).enumerated() {
                guard lock.hasValidRange else {
                    throw fail("files[\(i)].locks[\(j)]", "bytes \(lock.start)-\(lock.end.map(String.init) ?? "end") is not a range a lock can cover")
                }
            }
        }
        // After the files: a ring with a field out of bounds is named as such.
        for (i, v) in p.vmas.enumerated() where v.kind == .packetRing {
            guard v.pagesStored == 0, PacketRings.socket(of: v, in: p.files) != nil else { throw PacketRings.unheld(v, index: i, in: p) }
        }
        for (i, c) in (p.cgroups ?? []).enumerated() where !c.hasPlainPath {
            throw fail("cgroups[\(i)].path", "\"\(c.path)\" is not an absolute path without . or .. components")
        }
        for (i, t) in p.threads.enumerated() {
            for (j, s) in t.pendingSignals.enumerated() where s.info.count != 128 || s.signal < 1 || s.signal > 64 {
                throw fail("threads[\(i)].pendingSignals[\(j)]", "not a valid siginfo")
            }
        }
        for (j, s) in p.sharedPendingSignals.enumerated() where s.info.count != 128 || s.signal < 1 || s.signal > 64 {
            throw fail("sharedPendingSignals[\(j)]", "not a valid siginfo")
        }
    }

    /// Why `runs` cannot be huge pages of `v`, or nil: they must be sorted,
    /// apart, whole 2 MiB pages inside a private anonymous VMA.
    static func hugePageRunsProblem(_ runs: [PageRange], in v: VMAImage) -> String? {
        guard TransparentHugePages.mayBack(v) else {
            return "only private anonymous memory has transparent huge pages"
        }
        let size = TransparentHugePages.size
        var lastEnd = v.start
        for r in runs {
            guard let end = r.endAddress, r.address >= lastEnd, end <= v.end, r.pageCount > 0,
                  r.address % size == 0, UInt64(r.byteCount) % size == 0 else {
                return "run 0x\(String(r.address, radix: 16)) of \(r.pageCount) pages is not whole 2 MiB pages in order inside 0x\(String(v.start, radix: 16))-0x\(String(v.end, radix: 16))"
            }
            lastEnd = end
        }
        return nil
    }
}
