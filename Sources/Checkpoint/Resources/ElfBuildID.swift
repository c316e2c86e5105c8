/// The build id an ELF file carries in its NT_GNU_BUILD_ID note, found
/// through the program headers as the loader sees them. Files are read a
/// piece at a time through `read(offset, count)`, and every size and
/// offset taken from the file is checked before it is used: a mapped file
/// is anybody's, and a hostile or truncated one gives nil, never a crash
/// or a huge read.
enum ElfBuildID {
    /// Bytes the program headers and each note segment may take: real
    /// files have a handful of headers and notes of a few dozen bytes.
    static let maxHeaderBytes = 64 << 10
    static let maxNoteBytes = 64 << 10

    /// The build id in hex, or nil for a file that is not 64-bit
    /// little-endian ELF or has no such note.
    static func of(read: (_ offset: UInt64, _ count: Int) -> [UInt8]?) -> String? {
        guard let header = read(0, 64), header.count == 64,
              header[0...3] == [0x7f, 0x45, 0x4c, 0x46], header[4] == 2, header[5] == 1 else { return nil }
        let programHeaders = field(header, at: 0x20, UInt64.self)
        let entrySize = Int(field(header, at: 0x36, UInt16.self))
        let entries = Int(field(header, at: 0x38, UInt16.self))
        guard entrySize >= 56, entries > 0, entries * entrySize <= maxHeaderBytes, isFileOffset(programHeaders),
              let table = read(programHeaders, entries * entrySize), table.count == entries * entrySize else { return nil }
        for index in 0..<entries {
            let base = index * entrySize
            guard field(table, at: base, UInt32.self) == 4 else { continue } // PT_NOTE
            let offset = field(table, at: base + 0x08, UInt64.self)
            let size = field(table, at: base + 0x20, UInt64.self)
            guard size > 0, size <= UInt64(maxNoteBytes), isFileOffset(offset),
                  let notes = read(offset, Int(size)), notes.count == Int(size) else { continue }
            if let id = buildID(inNotes: notes) { return id }
        }
        return nil
    }

    /// Walks the notes of one segment: name size, description size and
    /// type, then the name and the description, each padded to 4 bytes.
    static func buildID(inNotes notes: [UInt8]) -> String? {
        var at = 0
        while at + 12 <= notes.count {
            let nameSize = Int(field(notes, at: at, UInt32.self))
            let descriptionSize = Int(field(notes, at: at + 4, UInt32.self))
            let type = field(notes, at: at + 8, UInt32.self)
            let name = at + 12
            let description = name + padded(nameSize)
            let next = description + padded(descriptionSize)
            guard nameSize <= notes.count, descriptionSize <= notes.count, next <= notes.count else { return nil }
            if type == 3, nameSize == 4, notes[name..<(name + 4)] == [0x47, 0x4e, 0x55, 0], descriptionSize > 0 { // "GNU"
                return hex(notes[description..<(description + descriptionSize)], separator: "")
            }
            at = next
        }
        return nil
    }

    private static func padded(_ size: Int) -> Int { (size + 3) & ~3 }

    /// An offset pread can take (off_t is signed), with room for a read
    /// of the largest size asked for after it.
    private static func isFileOffset(_ offset: UInt64) -> Bool {
        offset <= UInt64(Int64.max) - UInt64(max(maxHeaderBytes, maxNoteBytes))
    }

    /// A little-endian field at `offset`, which the caller has checked
    /// lies inside `bytes`.
    private static func field<T: FixedWidthInteger>(_ bytes: [UInt8], at offset: Int, _: T.Type) -> T {
        var reader = LittleEndianReader(bytes, offset: offset)
        return reader.read(T.self)
    }
}
