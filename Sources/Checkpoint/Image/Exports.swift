/// Image APIs take and return codecs (`Codec`, `CodecKind`), so code that
/// imports Checkpoint gets them without a second import.
@_exported import Codecs
