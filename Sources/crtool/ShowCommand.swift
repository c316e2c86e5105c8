import ArgumentParser
import Checkpoint
import Foundation

struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Describe what an image holds, after verifying every checksum."
    )

    @Argument(help: "Image directory.")
    var directory: String

    @Flag(name: .long, help: "List every VMA, and every file mapped by path with its size and build id (what a restore checks).")
    var vmas = false

    func run() throws {
        do {
            let image = try ImageDirectory.open(at: directory)
            let m = image.manifest
            print("image \(directory)")
            print("  written by \(m.tool) on \(m.kernelRelease) \(m.architecture) at \(m.createdAt), format \(m.formatVersion)")
            print("  codec \(m.codec); \(m.files.count + 1) files, checksums verified")
            if let cpu = m.cpu {
                print("  made on \(cpu.model) (XSAVE components 0x\(String(cpu.xfeatures, radix: 16))); a restore needs its register state and instruction sets (--cpu-cap)")
            }
            if m.isPreDump {
                print("  a pre-dump: pages only, the base of a later dump (crtool dump --prev-images-dir), not restored by itself")
            }
            if m.tracksWrites == true {
                print("  the tree was left running with its writes tracked (dump --track-mem): the next dump can be made on this image")
            }
            if let parent = m.parent {
                print("  made on the image \(parent), which a restore needs in place")
            }
            // A note beside the image, outside its checksums: a damaged one
            // is said, and the image still shown.
            do {
                if let statistics = try DumpStatistics.read(from: directory) { print("  " + StatisticsLine.text(statistics)) }
            } catch {
                printError("crtool show: warning: \(error) (statistics only: the image is not affected)")
            }
            if m.files[CgroupImage.listFile] != nil {
                for c in try image.readJSON([CgroupImage].self, from: CgroupImage.listFile) {
                    print("  cgroup \(c.membership.hierarchyName):\(c.path) of the tree's: "
                          + (c.settings.isEmpty ? "no settings" : c.settings.map { "\($0.name)=\($0.value)" }.joined(separator: ", ")))
                }
            }
            if m.files[NamespaceImage.listFile] != nil {
                for n in try image.readJSON([NamespaceImage].self, from: NamespaceImage.listFile) {
                    let held = Self.summary(of: n)
                    print("  \(n.kind.title) \(n.kind.rawValue):[\(n.id)] of the tree's own\(n.owner.map { ", made inside user:[\($0)]" } ?? ""): \(held)")
                    for mount in n.mounts ?? [] where mount.origin != .host {
                        print("    \(mount.mountPoint): " + (mount.origin == .bind ? "\(mount.bindSource ?? "") bound" : "\(mount.fsType) made anew")
                            + (mount.externalKey.map { ", left out as \($0): restore --ext-mount-map \($0):PATH gives its place" } ?? "")
                            + (mount.flags.isEmpty ? "" : ", \(mount.flags.joined(separator: ","))")
                            + (mount.pidNamespace.map { ", mounted by the first process of pid:[\($0)]" } ?? "")
                            + (mount.entries.map { entries in
                                let files = entries.compactMap(\.content)
                                return ", holding \(entries.count - 1) entr\(entries.count == 2 ? "y" : "ies"), \(files.count) file\(files.count == 1 ? "" : "s") with \(files.reduce(0) { $0 + $1.count }) bytes"
                            } ?? ""))
                    }
                    for v in n.veths ?? [] {
                        print("    \(Self.deviceSummary(v.inside)), its other end \(Self.deviceSummary(v.outside)) in crtool's namespace"
                              + (v.outsideMaster.map { ", a port of \($0)" } ?? "")
                              + (v.outsideRoutes.map { ", routes \($0.map(\.text).joined(separator: "; "))" } ?? ""))
                    }
                    for t in n.tuns ?? [] {
                        print("    \(Self.deviceSummary(t.device, kind: t.isTap ? "tap" : "tun"))" + (t.persistent ? ", persistent" : ""))
                    }
                    if let routes = n.routes {
                        print("    routes: " + routes.map(\.text).joined(separator: "; "))
                    }
                    if let sysctls = n.sysctls {
                        print("    sysctls of its own: " + sysctls.keys.sorted().map { "\($0)=\(sysctls[$0]!)" }.joined(separator: ", "))
                    }
                }
            }
            var lockTables = Set<String>()
            var keepers: [Int32: Int] = [:]
            for entry in m.processes {
                let lineage = try PageLineage.read(from: image, pid: entry.pid)
                if m.isPreDump {
                    let reader = try image.pageReader(name: PageLineage.pagesFileName(pid: entry.pid))
                    print("process \(entry.pid) (\(entry.command)) ppid \(entry.ppid), \(entry.tids.count) thread\(entry.tids.count == 1 ? "" : "s")")
                    print("  pages: \(reader.summary.pages), \(ByteCount.format(reader.summary.storedBytes)) stored"
                          + (lineage.map { ", \($0.inheritedPages) taken from the images under it" } ?? ""))
                    if let tracker = lineage?.tracker {
                        print("  writes since tracked by crtool-keeper pid \(tracker.pid) (the next image on top of this one ends it; kill \(tracker.pid) stops the tracking)")
                    }
                    continue
                }
                let p = try image.readJSON(ProcessImage.self, from: "process-\(entry.pid).json")
                for f in p.files {
                    let s = f.inetSocket
                    if let t = s?.networkLock ?? s?.connection?.networkLock ?? s?.connecting?.networkLock { lockTables.insert(t) }
                    if let h = f.heldOutside, h.isKeeper { keepers[h.pid, default: 0] += 1 }
                }
                let reader = try image.pageReader(name: p.pagesFile)
                let s = reader.summary
                let files = reader.partSummaries.map(\.name)
                print("process \(p.pid) (\(p.command)) ppid \(p.ppid) pgid \(p.pgid) sid \(p.sid)\(p.stopped == true ? ", stopped (job control)" : "")")
                print("  executable \(p.executable), cwd \(p.cwd)")
                print("  \(p.threads.count) thread\(p.threads.count == 1 ? "" : "s"):")
                for t in p.threads {
                    print("    \(t.tid)\(t.tid != p.pid ? t.namespaceTids?.last.map { " (\($0) inside)" } ?? "" : "") \(t.name)\(t.stoppedIn.map { ", stopped in \($0)" } ?? "")\(t.pendingSignals.isEmpty ? "" : ", \(t.pendingSignals.count) pending signal(s)")"
                          + (t.scheduling.map { ", " + Self.describe($0) } ?? ""))
                }
                let cgroups = (p.cgroups ?? []).filter { $0.path != "/" }
                if !cgroups.isEmpty {
                    print("  cgroups: " + cgroups.map { "\($0.hierarchyName):\($0.path)" }.joined(separator: ", "))
                }
                if let own = p.namespaces {
                    let kinds = NamespaceImage.savedKinds.compactMap { k in own[k].map { "\(k.rawValue):[\($0)]" } }
                    if !kinds.isEmpty { print("  namespaces of its own: " + kinds.joined(separator: ", ")) }
                    if let ids = p.namespacePids, let inside = ids.last {
                        let outer = ids.dropFirst().dropLast().map(String.init)
                        print("  pid \(inside) in its PID namespace" + (inside == 1 ? " (its first process)" : "")
                            + (outer.isEmpty ? "" : ", \(outer.joined(separator: " then ")) in the one\(outer.count > 1 ? "s" : "") it is inside, outermost first"))
                    }
                    if let forChildren = own.pidForChildren { print("  its children are born in pid:[\(forChildren)]") }
                    if let forChildren = own.timeForChildren { print("  its children are born in time:[\(forChildren)]") }
                }
                print("  \(p.vmas.count) VMAs, \(p.files.count) open files, \(p.signalActions.count) signal handlers")
                if let mapped = p.mappedFiles, !mapped.isEmpty {
                    print("  \(mapped.count) file\(mapped.count == 1 ? "" : "s") mapped by path, which a restore needs as they were\(vmas ? ":" : " (--vmas lists them)")")
                    if vmas {
                        for f in mapped {
                            print("    \(f.path): \(f.size) bytes\(f.buildID.map { ", build id \($0)" } ?? "")\(f.mappedPrivately ? "" : ", mapped shared")")
                        }
                    }
                }
                for v in p.vmas {
                    guard let ring = v.aioRing else { continue }
                    print("  AIO context 0x\(String(v.start, radix: 16)): \(ring.slots) slots, \(ring.completedCount) completions not reaped")
                }
                let ratio = s.rawBytes > 0 ? Double(s.storedBytes) / Double(s.rawBytes) * 100 : 0
                print("  pages: \(s.pages) in \(s.chunks) chunks, \(ByteCount.format(s.rawBytes)) before compression, "
                      + "\(ByteCount.format(s.storedBytes)) after (\(String(format: "%.1f", ratio))%), "
                      + (files.count == 1 ? "file \(files[0])" : "files \(files.joined(separator: ", "))"))
                if let lineage, m.parent != nil {
                    print("  pages taken from the images under it: \(lineage.inheritedPages), \(ByteCount.format(lineage.inheritedPages * 4096))")
                }
                if let tracker = lineage?.tracker {
                    print("  writes since tracked by crtool-keeper pid \(tracker.pid) (the next image on top of this one, or a restore of it, ends it; kill \(tracker.pid) stops the tracking)")
                }
                if vmas {
                    for v in p.vmas {
                        let range = "\(String(v.start, radix: 16))-\(String(v.end, radix: 16))"
                        let huge = v.transparentHugePages.map { " thp=\(ByteCount.format(PageRanges.pageCount($0) * 4096))" } ?? ""
                        print("    \(range) \(v.protection) \(v.kind.rawValue) pages=\(v.pagesStored)\(huge) \(v.path ?? "")")
                    }
                }
                for f in p.files {
                    let locks = (f.locks ?? []).map { "; \($0)" }.joined()
                    let given = f.external == true ? ", left out at the dump: restore --inherit-fd fd[N]:\(f.path) gives it one" : nil
                    let detail = given ?? (SocketDescription.of(f) ?? PtyDescription.of(f) ?? PipeDescription.of(f)).map { ", \($0)" } ?? ""
                    let length = f.size.map { " of \($0) bytes" } ?? ""
                    print("  fd \(f.fd): \(f.kind.rawValue) \(f.path) pos \(f.position)\(length)\(detail)\(locks)")
                }
            }
            // Peers wait on this host until the image is restored; a user
            // who gives up on it must know how to let them go.
            for (pid, count) in keepers.sorted(by: { $0.key < $1.key }) {
                print("keeper: crtool-keeper pid \(pid) holds \(count) descriptor\(count == 1 ? "" : "s") the tree shared outside it until the restore; "
                      + "to let the processes outside go without restoring: kill \(pid)")
            }
            for t in lockTables.sorted() {
                print("network lock: nftables table inet \(t) holds the connections' packets until the restore; "
                      + "to let them go without restoring: nft delete table inet \(t)")
            }
        } catch {
            throw fail("show", error)
        }
    }

    /// "SCHED_BATCH nice 5, CPUs 0-1": the policy as chrt names it, and
    /// the CPUs as runs.
    /// "23 mounts: 20 of crtool's, 2 bound, 1 made anew".
    /// "veth eth0 02:00:00:00:77:02 mtu 1500 up 10.77.0.2/24".
    /// "0 1000 1; 1 100000 65536", or "none" for a map never written.
    static func mapSummary(_ map: [NamespaceImage.IDMap]?) -> String {
        guard let map, !map.isEmpty else { return "none" }
        return map.map { "\($0.inside) \($0.outside) \($0.count)" }.joined(separator: "; ")
    }

    static func deviceSummary(_ d: NetworkDeviceImage, kind: String = "veth") -> String {
        ([kind, d.name] + (d.hardwareAddress.isEmpty ? [] : [d.hardwareAddress]) + ["mtu \(d.mtu)", d.up ? "up" : "down"]
            + d.addresses.map(\.address)).joined(separator: " ")
    }

    /// "loopback device up, 127.0.0.1/8 ::1/128, 1 veth device, 2 tun or tap devices".
    static func networkSummary(_ n: NamespaceImage) -> String {
        let loopback = n.loopbackUp == true ? "up, " + (n.loopbackAddresses ?? []).joined(separator: " ") : "down"
        let counts = [(n.veths?.count ?? 0, "veth device"), (n.tuns?.count ?? 0, "tun or tap device")].filter { $0.0 > 0 }
            .map { count, noun in "\(count) \(noun)\(count == 1 ? "" : "s")" }
        return "loopback device \(loopback), " + (counts.isEmpty ? "no other device" : counts.joined(separator: ", "))
    }

    /// What `show` says a saved namespace holds, or that it was left out.
    static func summary(of n: NamespaceImage) -> String {
        if let key = n.externalKey {
            let given = "left out at the dump: restore --inherit-fd fd[N]:\(key) gives the one to enter"
            return n.sysvIPC.map { given + "; " + Self.sysvSummary($0, fate: "taken there as they are, or made again") } ?? given
        }
        return n.kind == .user ? "made by uid \(n.ownerUID ?? 0), uid_map \(Self.mapSummary(n.uidMap)), gid_map \(Self.mapSummary(n.gidMap)), setgroups \(n.setgroupsAllowed == false ? "denied" : "allowed")"
            : n.kind == .pid ? "made again by forking its first process, each process with its pid in it"
            : n.kind == .uts ? "hostname \(n.hostname ?? ""), domainname \(n.domainname ?? "")"
            : n.kind == .mnt ? Self.mountSummary(n)
            : n.kind == .time ? n.clocks.map { c in
                "clocks at the dump monotonic \(String(format: "%.3f", Double(c.monotonic) / 1e9)) s, boottime \(String(format: "%.3f", Double(c.boottime) / 1e9)) s, which carry on from there"
            } ?? ""
            : n.kind == .cgroup ? "rooted at " + (n.cgroupRoots ?? []).map { "\($0.hierarchyName):\($0.path)" }.joined(separator: ", ")
            : n.kind == .net ? Self.networkSummary(n)
            : n.sysvIPC.map { Self.sysvSummary($0, fate: "made again") } ?? "made again empty"
    }

    /// "System V objects made again: 1 shared memory segment (id 5), 2 message queues (id 0, 1)".
    static func sysvSummary(_ o: SysVIPCImage, fate: String) -> String {
        "System V objects \(fate): " + [
            (o.sharedMemory.map(\.id), "shared memory segment"), (o.semaphoreSets.map(\.id), "semaphore set"),
            (o.messageQueues.map(\.id), "message queue"),
        ].filter { !$0.0.isEmpty }.map { ids, noun in
            "\(ids.count) \(noun)\(ids.count == 1 ? "" : "s") (id \(ids.map(String.init).joined(separator: ", ")))"
        }.joined(separator: ", ")
    }

    static func mountSummary(_ n: NamespaceImage) -> String {
        let mounts = n.mounts ?? []
        let count = { (origin: SavedMount.Origin) in mounts.filter { $0.origin == origin }.count }
        let copied = n.copiedFrom.map { "mnt:[\($0)]'s" } ?? "crtool's"
        return (n.copiedFrom.map { "a copy of mnt:[\($0)], " } ?? "")
            + "\(mounts.count) mounts: \(count(.host)) of \(copied), \(count(.bind)) bound, \(count(.fresh)) made anew"
    }

    static func describe(_ s: ThreadScheduling) -> String {
        let names: [UInt32: String] = [0: "SCHED_OTHER", 1: "SCHED_FIFO", 2: "SCHED_RR", 3: "SCHED_BATCH", 5: "SCHED_IDLE", 6: "SCHED_DEADLINE"]
        let a = s.attributes
        var text = names[a.policy] ?? "policy \(a.policy)"
        if a.policy == 1 || a.policy == 2 { text += " \(a.priority)" }
        text += " nice \(a.nice)"
        var runs: [String] = []
        var i = 0
        while i < s.cpus.count {
            var j = i
            while j + 1 < s.cpus.count, s.cpus[j + 1] == s.cpus[j] + 1 { j += 1 }
            runs.append(i == j ? "\(s.cpus[i])" : "\(s.cpus[i])-\(s.cpus[j])")
            i = j + 1
        }
        return text + ", CPUs " + runs.joined(separator: ",")
    }
}
