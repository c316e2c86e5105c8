import CSupport

/// Ctrl-C, a terminal hang-up or a polite kill while crtool holds a tree.
/// Dying there would leave the tree as crtool had it at that instant: a
/// thread in the middle of an injected call, a scratch mapping, a
/// process of a restore half made. So the first SIGINT, SIGTERM or SIGHUP
/// is only recorded, and the operation checks for it at points where it
/// can undo what it did; the same signal a second time ends crtool at
/// once, as the user asked twice.
public enum Interruption {
    public static func catchSignals() {
        cr_catch_interruptions(1)
    }

    /// Once nothing is held that crtool's death would damage (a restored
    /// tree let go, which crtool may wait for), the signals act as usual.
    public static func stopCatching() {
        cr_catch_interruptions(0)
    }

    /// The signal that arrived, if one did.
    public static var caught: Int32? {
        let sig = cr_interruption()
        return sig == 0 ? nil : sig
    }
}
