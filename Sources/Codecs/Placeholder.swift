// Codecs: page compression and checksums for image files.
