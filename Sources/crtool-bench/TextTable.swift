/// A table printed either as aligned plain text, for a terminal, or as a
/// Markdown pipe table, to paste into docs. Every column but the first
/// few text columns is right-aligned, so numbers line up.
struct TextTable {
    let headers: [String]
    let leftAligned: Int
    var rows: [[String]] = []

    func render(markdown: Bool) -> String {
        if markdown {
            let rule = headers.indices.map { $0 < leftAligned ? "---" : "---:" }
            return ([headers, rule] + rows).map { "| " + $0.joined(separator: " | ") + " |" }.joined(separator: "\n")
        }
        let widths = headers.indices.map { column in
            ([headers] + rows).map { $0[column].count }.max() ?? 0
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                return column < leftAligned ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
        return ([line(headers)] + rows.map(line)).joined(separator: "\n")
    }
}
