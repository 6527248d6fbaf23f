public import AuditStore
import AuthSignalCore

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

    private static func appendObject(_ object: JSONObject?, to output: inout [UInt8]) {
        if let object {
            CanonicalJSON.append(.object(object), to: &output)
        } else {
            output.append(contentsOf: "null".utf8)
        }
    }
}
