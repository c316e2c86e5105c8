import Codecs
import Foundation

/// The images an image was made on top of (pre-dumps, and dumps that
/// tracked the tree's writes), nearest first, each opened,
/// checked and matched against the manifest of the image made on it, so
/// that pages are never taken from a parent that changed since.
final class ImageChain {
    struct Link {
        let image: ImageDirectory
        /// The directory, for messages.
        let path: String
    }

    /// One image's part of a process's pages: the runs of `reader` a
    /// restore places.
    struct PageLayer {
        let reader: PageStreamReader
        let wanted: [PageRange]
    }

    let links: [Link]
    /// Deeper than any sensible series of pre-dumps; bounds a crafted loop.
    static let maxDepth = 64

    private init(links: [Link]) {
        self.links = links
    }

    /// The chain under `manifest`, the manifest of the image in
    /// `directory`; nil when it has no parent. `verifyContents` checks
    /// every byte of the parents' files, as a restore must.
    static func open(under manifest: Manifest, in directory: String, verifyContents: Bool) throws -> ImageChain? {
        guard manifest.parent != nil else { return nil }
        return try walk(from: manifest, in: directory, verifyContents: verifyContents).chain
    }

    /// The chain a new image in `directory` is made on: `parent` (relative
    /// to `directory` unless absolute) and its parents, or only `parent`
    /// when the image takes no page from it (`wholeChain` false); and the
    /// parent's manifest as it is now, for the new image to record.
    static func open(parent: String, for directory: String, wholeChain: Bool = true) throws -> (chain: ImageChain, parentManifest: FileChecksum) {
        let walked = try walk(from: Manifest(parent: parent), in: directory, verifyContents: false,
                              links: wholeChain ? maxDepth : 1, takingParentAsItIs: true)
        return (walked.chain, walked.parentManifest!)
    }

    /// Walks up to `links` parents from `manifest`, checking each against
    /// the manifest checksum the image below it recorded. With
    /// `takingParentAsItIs`, `manifest` is that of an image being made:
    /// its parent is taken as it is now, and the checksum of its manifest
    /// returned for the new image to record.
    private static func walk(from manifest: Manifest, in directory: String, verifyContents: Bool,
                             links wanted: Int = maxDepth, takingParentAsItIs: Bool = false) throws -> (chain: ImageChain, parentManifest: FileChecksum?) {
        var parentManifest: FileChecksum?
        var links: [Link] = []
        var child = manifest
        var childDirectory = directory
        var seen: Set<String> = [FileSystem.canonical(directory)]
        while let parent = child.parent, links.count < wanted {
            let childManifest = links.isEmpty ? ManifestFile.name : "\(childDirectory)/\(ManifestFile.name)"
            guard links.count < maxDepth else {
                throw ImageError(file: childManifest, field: "parent", reason: "more than \(maxDepth) parent images in a row (a dump with --full on the newest starts a series again)")
            }
            let path = FileSystem.resolve(parent, relativeTo: childDirectory)
            guard seen.insert(FileSystem.canonical(path)).inserted else {
                throw ImageError(file: childManifest, field: "parent", reason: "\(parent) leads back to an image of the same chain")
            }
            let expected = child.parentManifest
            guard expected != nil || (links.isEmpty && takingParentAsItIs) else {
                throw ImageError(file: childManifest, field: "parentManifest", reason: "missing: an image with a parent records the parent's manifest")
            }
            let image: ImageDirectory
            do {
                image = try ImageDirectory.open(at: path, verifyContents: verifyContents)
            } catch var e as ImageError {
                e.file = "\(path)/\(e.file)"
                throw e
            } catch let e as ImageIOError where e.errno == ENOENT || e.errno == ENOTDIR {
                throw ImageError(file: childManifest, field: "parent", reason: "the parent image \(path) is not there (\(e))")
            }
            let found = try image.manifestChecksum()
            if let expected, found != expected {
                throw ImageError(file: childManifest, field: "parentManifest",
                                 reason: "\(path)/\(ManifestFile.name) is not the one this image was made on (\(found.size) bytes, CRC \(hex32(found.crc32)); recorded \(expected.size) bytes, CRC \(hex32(expected.crc32))): it was made again or replaced")
            }
            if links.isEmpty { parentManifest = found }
            guard image.manifest.canBeParent else {
                throw ImageError(file: "\(path)/\(ManifestFile.name)", field: "tracksWrites",
                                 reason: "a parent image must have tracked the tree's writes since: a pre-dump (crtool pre-dump) or a dump with --leave-running --track-mem")
            }
            links.append(Link(image: image, path: path))
            child = image.manifest
            childDirectory = path
        }
        return (ImageChain(links: links), parentManifest)
    }

    /// The nearest parent's lineage of `pid`, or nil when that parent has
    /// no such process, or another process had the pid then.
    func parentLineage(pid: Int32, startTime: UInt64) throws -> PageLineage? {
        guard let link = links.first, let lineage = try lineage(in: link, pid: pid), lineage.startTime == startTime else { return nil }
        return lineage
    }

    /// Every page of `pid` the nearest parent can give: those in its page
    /// file and those it inherited.
    func pagesHeld(pid: Int32, lineage: PageLineage) throws -> [PageRange] {
        guard let link = links.first else { return [] }
        let reader = try link.image.pageReader(name: PageLineage.pagesFileName(pid: pid))
        defer { reader.closeFiles() }
        return PageRanges.normalized(reader.storedPages + lineage.inherited)
    }

    /// Where each inherited page of `pid` comes from: the nearest parent
    /// that holds it in its page file. `file` names the lineage file that
    /// claims them, for errors.
    func layers(pid: Int32, startTime: UInt64, inherited: [PageRange], file: String) throws -> [PageLayer] {
        var remaining = PageRanges.normalized(inherited)
        var layers: [PageLayer] = []
        for link in links where !remaining.isEmpty {
            let lineageFile = "\(link.path)/\(PageLineage.fileName(pid: pid))"
            guard let lineage = try lineage(in: link, pid: pid) else {
                throw ImageError(file: file, field: "inherited", reason: "pages are taken from \(link.path), which has no pid \(pid)")
            }
            guard lineage.startTime == startTime else {
                throw ImageError(file: lineageFile, field: "startTime",
                                 reason: "\(lineage.startTime): another process than the one in \(file) (started at \(startTime))")
            }
            let reader = try link.image.pageReader(name: PageLineage.pagesFileName(pid: pid))
            reader.closeFiles()
            let own = reader.storedPages
            let here = PageRanges.intersection(remaining, own)
            if !here.isEmpty { layers.append(PageLayer(reader: reader, wanted: here)) }
            remaining = PageRanges.subtracting(remaining, own)
            if let lost = PageRanges.subtracting(remaining, PageRanges.normalized(lineage.inherited)).first {
                throw ImageError(file: file, field: "inherited",
                                 reason: "the page at 0x\(String(lost.address, radix: 16)) is in no parent image (\(link.path) neither holds nor inherited it)")
            }
        }
        // Only the last image can leave pages over: it claims to have
        // inherited them, yet names no parent to take them from.
        if let lost = remaining.first, let last = links.last {
            throw ImageError(file: "\(last.path)/\(PageLineage.fileName(pid: pid))", field: "inherited",
                             reason: "the page at 0x\(String(lost.address, radix: 16)) is taken from a parent image, and \(last.path)/\(ManifestFile.name) names none")
        }
        return layers
    }

    private func lineage(in link: Link, pid: Int32) throws -> PageLineage? {
        do {
            return try PageLineage.read(from: link.image, pid: pid)
        } catch var e as ImageError {
            e.file = "\(link.path)/\(e.file)"
            throw e
        }
    }
}
