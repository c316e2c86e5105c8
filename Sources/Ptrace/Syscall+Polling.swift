/// System call numbers for the epoll instances crtool makes inside a
/// restored process (the interest list is keyed by the process's own
/// descriptor numbers, so it must be built there).
extension Syscall {
    public static let epollCtl: Int64 = 233
    public static let epollCreate1: Int64 = 291
}
