import Glibc
import Ptrace

/// From the image's text forms back to what rtnetlink takes. Each returns
/// the reason it cannot, for the image check (`NetworkDevicesCheck`) to
/// name the field; the restore converts only what that check passed.
extension AddressImage {
    func interfaceAddress(index: Int32) -> Result<InterfaceAddress, ImageFieldProblem> {
        guard let (bytes, length) = IPAddressText.prefix(address) else {
            return .failure(ImageFieldProblem("address", "\"\(address)\" is not an address with its prefix length"))
        }
        var broadcastBytes: [UInt8]?
        if let broadcast {
            guard bytes.count == 4, let b = IPAddressText.bytes(broadcast), b.count == 4 else {
                return .failure(ImageFieldProblem("broadcast", "\"\(broadcast)\" is not the IPv4 broadcast address of an IPv4 address"))
            }
            broadcastBytes = b
        }
        if let label, label.utf8.count > 15 || label.isEmpty || label.utf8.contains(0) {
            return .failure(ImageFieldProblem("label", "\(label.utf8.count) bytes is not a label (1 to 15, no NUL)"))
        }
        return .success(InterfaceAddress(index: index, family: bytes.count == 4 ? AF_INET : AF_INET6, address: bytes, prefixLength: length,
                                         scope: scope, flags: flags, broadcast: broadcastBytes, label: label))
    }
}

extension RouteImage {
    /// `deviceIndex` finds a device by name in the namespace the route is
    /// added to (nil for a name it has not).
    func route(deviceIndex: (String) -> Int32?) -> Result<Route, ImageFieldProblem> {
        let width: Int
        switch family {
        case "inet": width = 4
        case "inet6": width = 16
        default: return .failure(ImageFieldProblem("family", "\"\(family)\" is neither inet nor inet6"))
        }
        var destinationBytes = [UInt8](repeating: 0, count: width)
        var length: UInt8 = 0
        if destination != "default" {
            guard let (bytes, l) = IPAddressText.prefix(destination), bytes.count == width else {
                return .failure(ImageFieldProblem("destination", "\"\(destination)\" is not an \(family) prefix"))
            }
            destinationBytes = bytes
            length = l
        }
        var gatewayBytes: [UInt8]?
        if let gateway {
            guard let bytes = IPAddressText.bytes(gateway), bytes.count == width else {
                return .failure(ImageFieldProblem("gateway", "\"\(gateway)\" is not an \(family) address"))
            }
            gatewayBytes = bytes
        }
        var sourceBytes: [UInt8]?
        if let preferredSource {
            guard let bytes = IPAddressText.bytes(preferredSource), bytes.count == width else {
                return .failure(ImageFieldProblem("preferredSource", "\"\(preferredSource)\" is not an \(family) address"))
            }
            sourceBytes = bytes
        }
        var index: Int32?
        if let device {
            guard let found = deviceIndex(device) else {
                return .failure(ImageFieldProblem("device", "\"\(device)\" is not a device the namespace has"))
            }
            index = found
        }
        return .success(Route(family: width == 4 ? AF_INET : AF_INET6, destination: destinationBytes, destinationLength: length,
                              gateway: gatewayBytes, outputIndex: index, protocolNumber: protocolNumber, scope: scope, type: type,
                              priority: metric, preferredSource: sourceBytes))
    }
}

/// A field of an image record that does not hold what it should, and why.
struct ImageFieldProblem: Error {
    var field: String
    var reason: String
    init(_ field: String, _ reason: String) {
        self.field = field
        self.reason = reason
    }
}
