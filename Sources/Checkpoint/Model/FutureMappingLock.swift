/// What mlockall(MCL_FUTURE) asked for new mappings. The kernel shows it
/// nowhere but in the flags (smaps "lo", "lf") of a mapping made after it,
/// so the dump reads them off the scratch page it lends the process.
public enum FutureMappingLock: String, Codable, Sendable {
    /// MCL_FUTURE: locked and filled as they are made.
    case locked
    /// MCL_FUTURE | MCL_ONFAULT: locked as they are touched.
    case lockedOnFault
}
