/// The requests' side of the wire that clients need: the object ``ProtocolRequest/decode(_:)``
/// reads back, field for field.
extension ProtocolRequest {
    /// The request as the protocol's JSON object.
    public var object: JSONObject {
        var object = RequestObject()
        object[.op] = .string(op)
        switch self {
        case .emit(let event):
            object[.signal] = .string(event.signal.rawValue)
            object[.sender] = .string(event.sender)
            object[.user] = event.user.map(JSONValue.string)
            object[.request] = event.request.map(JSONValue.object)
            object[.credentials] = event.credentials.map(JSONValue.object)
            object[.time] = event.time.map { .string(RFC3339.format($0)) }
            object[.id] = event.id.map(JSONValue.string)
        case .query(let filter), .follow(let filter):
            object[.user] = filter.user.map(JSONValue.string)
            object[.signal] = filter.signal.map { .string($0.rawValue) }
            object[.sender] = filter.sender.map(JSONValue.string)
            object[.remoteAddr] = filter.remoteAddr.map(JSONValue.string)
            object[.verdict] = filter.verdict.map { .string($0.rawValue) }
            object[.since] = filter.since.map { .string(RFC3339.format($0)) }
            object[.until] = filter.until.map { .string(RFC3339.format($0)) }
            object[.afterSeq] = filter.afterSeq.map(JSONValue.int)
            object[.limit] = filter.limit.map { .int(Int64($0)) }
            if filter.order == .descending { object[.order] = .string(filter.order.rawValue) }
        case .notice(let user, let remoteAddr, let periodDays):
            object[.user] = .string(user)
            object[.remoteAddr] = remoteAddr.map(JSONValue.string)
            object[.periodDays] = .int(periodDays)
        case .verdicts(let since, let until):
            object[.since] = since.map { .string(RFC3339.format($0)) }
            object[.until] = until.map { .string(RFC3339.format($0)) }
        case .verify(let from, let to):
            object[.from] = from.map(JSONValue.int)
            object[.to] = to.map(JSONValue.int)
        case .hash(let value, let senderUID):
            object[.value] = .string(value)
            object[.senderUID] = senderUID.map { .int(Int64($0)) }
        case .sessions(let filter):
            object[.user] = filter.user.map(JSONValue.string)
            object[.since] = filter.since.map { .string(RFC3339.format($0)) }
            object[.until] = filter.until.map { .string(RFC3339.format($0)) }
            object[.present] = filter.present.map { .string(RFC3339.format($0)) }
            if filter.openOnly { object[.open] = .bool(true) }
            object[.limit] = filter.limit.map { .int(Int64($0)) }
            object[.order] = .string(filter.order.rawValue)
        case .accounts(let filter):
            object[.user] = filter.user.map(JSONValue.string)
            if filter.failedOnly { object[.failedOnly] = .bool(true) }
        case .stats, .ping:
            break
        }
        return object.fields
    }

    /// The request as one line, newline included.
    public var line: [UInt8] { ProtocolResponse.line(object) }
}

/// A request object being written, keyed by ``RequestField`` so that every name it writes is one
/// the decoder reads.
private struct RequestObject {
    var fields: JSONObject = [:]

    subscript(field: RequestField) -> JSONValue? {
        get { fields[field.rawValue] }
        set { fields[field.rawValue] = newValue }
    }
}
