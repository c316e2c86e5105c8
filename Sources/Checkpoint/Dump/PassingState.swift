/// A state of the frozen tree that its own program ends in a moment and
/// that no image can hold: a listener's connections waiting to be
/// accepted while new ones are held back by the network lock, a netlink
/// answer the program is still reading. The dump lets the tree run a
/// moment, for the program to take what waits, and tries again; only a
/// state that outlasts every try refuses the dump.
struct PassingState: Error, CustomStringConvertible {
    /// The refusal, naming the process, descriptor and what waits.
    var message: String
    /// What the tree was let run for, as the dump summary says it.
    var reason: String
    /// What held while it waited, said when every try was spent.
    var whileWaiting: String?

    var description: String { message }

    static func connectionsWaiting(_ message: String) -> PassingState {
        PassingState(message: message, reason: "a listener had connections waiting to be accepted",
                     whileWaiting: "while new connections were held back")
    }

    static func netlinkAnswerUnread(_ message: String) -> PassingState {
        PassingState(message: message, reason: "a netlink socket held an answer or event not yet read")
    }

    static func ptyUnread(_ message: String) -> PassingState {
        PassingState(message: message, reason: "a pty held a full line discipline of bytes not yet read")
    }
}
