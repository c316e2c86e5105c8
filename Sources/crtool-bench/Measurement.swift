/// One dump and restore of one case, as measured.
struct Measurement {
    var dumpSeconds: Double
    var frozenSeconds: Double
    /// Every file of the image: pages, chunk headers and metadata.
    var imageBytes: UInt64
    /// Pages the dump kept (not zero), as uncompressed bytes.
    var storedBytes: UInt64
    var restoreSeconds: Double

    /// The best of two runs, metric by metric: the fastest dump, the
    /// shortest freeze, the fastest restore. Image sizes do not vary
    /// (the fixture's contents follow from page numbers alone).
    func best(_ other: Measurement) -> Measurement {
        Measurement(dumpSeconds: min(dumpSeconds, other.dumpSeconds),
                    frozenSeconds: min(frozenSeconds, other.frozenSeconds),
                    imageBytes: min(imageBytes, other.imageBytes),
                    storedBytes: min(storedBytes, other.storedBytes),
                    restoreSeconds: min(restoreSeconds, other.restoreSeconds))
    }
}
