/// A row type whose columns a ``TableLayout`` declares: made blank, then filled column by column.
package protocol TableRow {
    /// A row with no values yet.
    init()
}

/// One column of a table the store writes: its name and the property of `Row` that holds it,
/// which also gives its kind (integer, flag or text, nullable or not).
package struct TableColumn<Row>: Sendable {
    package enum Property: Sendable {
        case integer(any WritableKeyPath<Row, Int64> & Sendable)
        case optionalInteger(any WritableKeyPath<Row, Int64?> & Sendable)
        /// An integer that is 0 or 1.
        case flag(any WritableKeyPath<Row, Bool> & Sendable)
        case text(any WritableKeyPath<Row, String> & Sendable)
        case optionalText(any WritableKeyPath<Row, String?> & Sendable)
    }

    package let name: String
    package let property: Property

    /// Whether the column holds integers (otherwise text).
    package var isInteger: Bool {
        switch property {
        case .integer, .optionalInteger, .flag: true
        case .text, .optionalText: false
        }
    }

    init(_ name: String, _ property: Property) {
        self.name = name
        self.property = property
    }

    /// The column's value in `row`, to bind.
    func value(in row: Row) -> DirectValue {
        switch property {
        case .integer(let key): .integer(row[keyPath: key])
        case .optionalInteger(let key): .integer(row[keyPath: key])
        case .flag(let key): .integer(row[keyPath: key] ? 1 : 0)
        case .text(let key): .text(row[keyPath: key])
        case .optionalText(let key): .text(row[keyPath: key])
        }
    }

    /// Sets the column in `row` from column `index` of `source` (NULL reads as 0 or "" where the
    /// property cannot be `nil`).
    func read(_ source: StatementRow, at index: Int, into row: inout Row) {
        switch property {
        case .integer(let key): row[keyPath: key] = source.integer(at: index) ?? 0
        case .optionalInteger(let key): row[keyPath: key] = source.integer(at: index)
        case .flag(let key): row[keyPath: key] = (source.integer(at: index) ?? 0) != 0
        case .text(let key): row[keyPath: key] = source.text(at: index) ?? ""
        case .optionalText(let key): row[keyPath: key] = source.text(at: index)
        }
    }
}

/// A table's columns, declared once in table order: its select lists, its insert statement,
/// binding a row and reading one all follow ``columns``.
package struct TableLayout<Row: TableRow>: Sendable {
    /// The table's name.
    package let table: String
    /// Its columns, in table order.
    package let columns: [TableColumn<Row>]

    /// Every column's name, in table order.
    var names: [String] { columns.map(\.name) }

    /// Every column, in table order, for a select list (`prefix` names the table, as `"s."`).
    func selectList(prefix: String = "") -> String {
        names.map { prefix + $0 }.joined(separator: ", ")
    }

    /// The statement that stores a row (replacing one with the same key when `replacing`); its
    /// parameters are the columns in table order (``values(of:)``).
    func insertSQL(replacing: Bool = false) -> String {
        "INSERT \(replacing ? "OR REPLACE " : "")INTO \(table) (\(selectList())) VALUES ("
            + Array(repeating: "?", count: columns.count).joined(separator: ", ") + ")"
    }

    /// The values of `row`, in table order.
    func values(of row: Row) -> [DirectValue] {
        columns.map { $0.value(in: row) }
    }

    /// The row selected with ``selectList(prefix:)`` that `source` is at.
    func row(_ source: StatementRow) -> Row {
        var row = Row()
        for (index, column) in columns.enumerated() { column.read(source, at: index, into: &row) }
        return row
    }
}
