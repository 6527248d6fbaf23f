import AuthSignalCore
import FuzzDriver

/// The daemon's redactor with a fixed key (a static, so that LeakSanitizer sees it reachable).
enum Fixture {
    static let redactor = Redactor(
        mode: .hmac, key: try! RedactionKey(bytes: Array(repeating: 7, count: 32)), isKnownAccount: { $0 == "root" })
}

/// Any request line: decoded or refused with a protocol error; an emit is redacted as the daemon
/// does, and what may be stored holds no unsafe name.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProtocol(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    guard let request = try? ProtocolRequest.decode(bytes) else { return 0 }
    if case .emit(let event) = request {
        let redacted = Fixture.redactor.redact(event, peer: PeerCredentials(uid: 0, gid: 0, pid: 1))
        if let user = redacted.user {
            precondition(!DisplaySafe.needsEscaping(user), "a stored user name holds a control character")
            precondition(
                user.utf8.count <= WireProtocol.maximumNameBytes || user.hasPrefix("hmac-sha256:"),
                "a stored user name is too long")
        }
        _ = ProtocolResponse.line(["user": redacted.user.map(JSONValue.string) ?? .null])
    }
    return 0
}

runLibFuzzer { data, size in
    data.map { fuzzProtocol(UnsafeRawPointer($0), size) } ?? fuzzProtocol(UnsafeRawPointer(bitPattern: 1)!, 0)
}
