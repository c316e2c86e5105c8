/// The ports fixture-inetecho's servers got from the kernel, as it printed
/// them before "ready".
struct EchoPorts {
    var tcp: UInt16
    var tcp6: UInt16
    var udp: UInt16
    var udp6: UInt16

    init(_ fixture: Fixture) throws {
        let lines = fixture.log.lines()
        func port(_ name: String) throws -> UInt16 {
            guard let line = lines.first(where: { $0.hasPrefix(name + " port ") }),
                  let value = UInt16(line.dropFirst(name.count + 6)) else {
                throw HarnessError("\(fixture.name) printed no \"\(name) port\" line")
            }
            return value
        }
        tcp = try port("tcp")
        tcp6 = try port("tcp6")
        udp = try port("udp")
        udp6 = try port("udp6")
    }
}
