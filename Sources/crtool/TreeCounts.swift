/// The start of a summary line for a tree: "3 processes and 1 zombie, ";
/// empty for a single process, whose summary needs no count.
func treeCounts(processes: Int, zombies: Int) -> String {
    guard processes > 1 || zombies > 0 else { return "" }
    let zombiePart = zombies == 0 ? "" : " and \(zombies) zombie\(zombies == 1 ? "" : "s")"
    return "\(processes) process\(processes == 1 ? "" : "es")\(zombiePart), "
}
