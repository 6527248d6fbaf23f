public import AuthSignalCore

/// The protocol's form of an audit record: `{"record":{…}}` lines (docs/protocol.md).
public enum RecordJSON {
    /// Appends `{"record":{…}}\n` for `record` to `output`, keys sorted, without building an
    /// intermediate JSON tree (streaming hundreds of thousands of records is a measured path).
    public static func appendLine(_ record: AuditRecord, to output: inout [UInt8]) {
        output.append(contentsOf: #"{"record":{"credentials":"#.utf8)
        appendObject(record.credentials, to: &output)
        output.append(contentsOf: #","hash":""#.utf8)
        Hex.append(record.hash, to: &output)
        output.append(contentsOf: #"","peer":{"gid":"#.utf8)
        output.append(contentsOf: String(record.peer.gid).utf8)
        output.append(contentsOf: #","pid":"#.utf8)
        output.append(contentsOf: String(record.peer.pid).utf8)
        output.append(contentsOf: #","uid":"#.utf8)
        output.append(contentsOf: String(record.peer.uid).utf8)
        output.append(contentsOf: #"},"received":""#.utf8)
        output.append(contentsOf: RFC3339.format(record.received).utf8)
        output.append(contentsOf: #"","request":"#.utf8)
        appendObject(record.request, to: &output)
        output.append(contentsOf: #","sender":"#.utf8)
        CanonicalJSON.appendString(record.sender, to: &output)
        output.append(contentsOf: #","seq":"#.utf8)
        output.append(contentsOf: String(record.seq).utf8)
        output.append(contentsOf: #","signal":""#.utf8)
        output.append(contentsOf: record.signal.rawValue.utf8)
        output.append(contentsOf: #"","time":"#.utf8)
        if let time = record.time {
            output.append(UInt8(ascii: "\""))
            output.append(contentsOf: RFC3339.format(time).utf8)
            output.append(UInt8(ascii: "\""))
        } else {
            output.append(contentsOf: "null".utf8)
        }
        output.append(contentsOf: #","user":"#.utf8)
        if let user = record.user {
            CanonicalJSON.appendString(user, to: &output)
        } else {
            output.append(contentsOf: "null".utf8)
        }
        output.append(contentsOf: "}}\n".utf8)
    }

    /// The record as the protocol's JSON object (the value of `"record"`).
    public static func object(_ record: AuditRecord) -> JSONObject {
        var line: [UInt8] = []
        appendLine(record, to: &line)
        // The line was just encoded from a record; it always parses.
        guard case .object(let wrapper)? = try? JSONParser.parse(line, allowsNUL: true),
            case .object(let object)? = wrapper["record"]
        else { preconditionFailure("RecordJSON produced a line that does not parse") }
        return object
    }

    private static func appendObject(_ object: JSONObject?, to output: inout [UInt8]) {
        if let object {
            CanonicalJSON.append(.object(object), to: &output)
        } else {
            output.append(contentsOf: "null".utf8)
        }
    }
}
