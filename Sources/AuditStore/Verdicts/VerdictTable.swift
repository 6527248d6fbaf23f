import AuthSignalProtocol
import GRDB

/// The `verdicts` table: what the writer judged each trusted login to be as it committed it.
/// Derived data, outside the hash chain (docs/storage.md): written in the record's own
/// transaction, so a record is never stored without its verdicts, and pruned with it.
enum VerdictTable {
    static let schema = """
        CREATE TABLE verdicts (
            seq INTEGER NOT NULL,
            code TEXT NOT NULL,
            reason TEXT NOT NULL,
            PRIMARY KEY (seq, code)
        ) WITHOUT ROWID;
        CREATE INDEX verdicts_by_code ON verdicts(code, seq);
        """

    static let insertSQL = "INSERT OR REPLACE INTO verdicts (seq, code, reason) VALUES (?, ?, ?)"

    /// Stores the verdicts on record `seq`.
    static func insert(_ verdicts: [Verdict], seq: Int64, _ db: Database) throws {
        let statement = try db.cachedStatement(sql: insertSQL)
        for verdict in verdicts {
            try statement.execute(arguments: [seq, verdict.code.rawValue, verdict.reason])
        }
    }

    /// A select-list column after ``RecordLayout/selectList(prefix:)``: the record's verdicts as a
    /// JSON array, NULL when it has none (the usual case, which costs one index probe). `prefix`
    /// names the records table (`records.`, or its alias): unqualified, `seq` would be the
    /// verdict's own.
    static func column(prefix: String) -> String {
        "(SELECT json_group_array(json_object('code', code, 'reason', reason)) FROM verdicts v "
            + "WHERE v.seq = \(prefix)seq HAVING count(*) > 0)"
    }

    /// Where ``column(prefix:)`` is in a row.
    static let columnIndex = RecordLayout.names.count

    /// The verdicts in ``column(prefix:)`` of `row`.
    static func verdicts(_ row: StatementRow) -> [Verdict] {
        var verdicts: [Verdict] = []
        row.withText(at: columnIndex) { json in
            if let json { verdicts = Self.verdicts(json: String(decoding: json, as: UTF8.self)) }
        }
        return verdicts
    }

    /// The verdicts in the JSON array `json`, in the order the judge gives them (that of
    /// ``VerdictCode``); a damaged value reads as none: verdicts are derived, and never hold up a
    /// record.
    static func verdicts(json: String?) -> [Verdict] {
        guard let json, let value = try? JSONParser.parse(Array(json.utf8)) else { return [] }
        let order = VerdictCode.allCases
        return ((try? Verdict.array(value)) ?? []).sorted {
            order.firstIndex(of: $0.code)! < order.firstIndex(of: $1.code)!
        }
    }

    /// Forgets the verdicts on pruned records.
    static func prune(_ db: Database, from first: Int64, through last: Int64) throws {
        try db.execute(sql: "DELETE FROM verdicts WHERE seq BETWEEN ? AND ?", arguments: [first, last])
    }
}
