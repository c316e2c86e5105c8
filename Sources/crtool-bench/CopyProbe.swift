/// Plain memory copy speed, for scale: no process boundary, no kernel,
/// no file. Both arrays are written in full first, so no page fault is
/// timed.
enum CopyProbe {
    static func measure(mebibytes: Int = 256, passes: Int = 3) -> Double {
        let count = mebibytes << 20
        let source = [UInt8](repeating: 0xa5, count: count)
        var destination = [UInt8](repeating: 0, count: count)
        var best = 0.0
        for _ in 0..<passes {
            let watch = Stopwatch()
            destination[0..<count] = source[0..<count]
            best = max(best, Double(mebibytes) / watch.seconds)
        }
        // Read the copy, so the optimizer cannot drop it.
        precondition(destination[count - 1] == 0xa5)
        return best
    }
}
