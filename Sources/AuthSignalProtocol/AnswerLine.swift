/// One line of an answer as a client reads it (docs/protocol.md): an item the answer streams
/// before its final line (a record, session or account), or the final line itself, `ok` with
/// the op's fields or an error.
///
/// ```swift
/// switch try AnswerLine<WireRecord>(line) {
/// case .item(let record): print(record.seq, record.signal)
/// case .ok(let fields): print("count", fields["count"] ?? .null)
/// case .error(let error): print("refused:", error)
/// }
/// ```
public enum AnswerLine<Item: WireItem>: Sendable {
    /// A streamed item: `{"record":{…}}` (or `session`, `account`).
    case item(Item)
    /// The final line of a request that succeeded: its fields, without `ok`.
    case ok(JSONObject)
    /// The final line of a request that failed. A code this version does not know reads as
    /// ``ErrorCode/internal``.
    case error(ProtocolError)

    /// Reads one answer line, without its newline.
    /// - Throws: ``ProtocolError`` with ``ErrorCode/invalidJSON`` when the line is not a JSON
    ///   object, ``ErrorCode/invalidRequest`` when it is none of the three forms.
    public init(_ line: some Collection<UInt8>) throws(ProtocolError) {
        let parsed: JSONValue
        do {
            parsed = try JSONParser.parse(line, maximumDepth: 4096, allowsNUL: true)
        } catch {
            throw ProtocolError(.invalidJSON, "an answer line is not JSON: \(error.reason)")
        }
        guard case .object(let object) = parsed else {
            throw ProtocolError(.invalidJSON, "an answer line is not a JSON object")
        }
        if case .object(let body)? = object[Item.lineKey] {
            self = .item(try Item(body))
        } else if object["ok"] == .bool(true) {
            self = .ok(object.filter { $0.key != "ok" })
        } else if case .object(let error)? = object["error"] {
            let code = error["code"]?.stringValue.flatMap(ErrorCode.init(rawValue:)) ?? .internal
            self = .error(ProtocolError(code, error["message"]?.stringValue ?? ""))
        } else {
            throw ProtocolError(.invalidRequest, "an answer line is neither \(Item.lineKey), ok nor error")
        }
    }
}
