/// A listener had connections waiting to be accepted while its new ones
/// were held back by the network lock: the dump lets the tree run a
/// moment, for the program to accept them, and tries again.
struct ConnectionsWaiting: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
