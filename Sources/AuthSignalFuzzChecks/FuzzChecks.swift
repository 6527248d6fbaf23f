import AuthSignalCore
import AuthSignalProtocol

/// What the fuzz targets (Fuzz/) check on each input, one function per target: each feeds the
/// input to a parser of untrusted bytes and stops the process (a precondition) when a property
/// the rest of the daemon relies on does not hold. The fuzz package is another package and sees
/// only public API; these are the whole of what it reaches.
public enum FuzzChecks {
    /// Any bytes: the parser either refuses them or returns a value whose canonical encoding
    /// parses back and encodes to the same bytes (what the hash chain relies on: a record's JSON
    /// columns are hashed as stored). Values may change type on the way (an integral double is
    /// written as an integer, docs/storage.md), the bytes may not.
    ///
    /// And the validating scan that streaming relies on (`isObject`, which builds nothing) agrees
    /// with the parser: it accepts every object the parser accepts, and what it accepts beyond
    /// them the parser refuses only for what it does not check (duplicate keys, a number's range).
    public static func json(_ bytes: UnsafeRawBufferPointer) {
        let scanned = JSONParser.isObject(bytes.assumingMemoryBound(to: UInt8.self))
        let parsed = Result { () throws(JSONParseError) in try JSONParser.parse(bytes) }
        switch parsed {
        case .success(.object): precondition(scanned, "the scan refuses an object the parser accepts")
        case .success: precondition(!scanned, "the scan accepts a value that is not an object")
        case .failure(let error):
            precondition(
                !scanned || ["duplicate object key", "number out of range"].contains(error.reason),
                "the scan accepts what the parser refuses: \(error.reason)")
        }
        guard let value = try? parsed.get() else { return }
        let encoded = CanonicalJSON.encode(value)
        guard let again = try? JSONParser.parse(encoded, maximumDepth: 4096, allowsNUL: true) else {
            preconditionFailure("the canonical encoding of a parsed value does not parse")
        }
        precondition(CanonicalJSON.encode(again) == encoded, "the canonical encoding is not stable")
    }

    /// The daemon's redactor with a fixed key and `root` as the only account (a static, so that
    /// LeakSanitizer sees it reachable).
    private static let redactor = Redactor(
        mode: .hmac, key: try! RedactionKey(bytes: Array(repeating: 7, count: 32)), isKnownAccount: { $0 == "root" })

    /// Any request line: decoded or refused with a protocol error; an emit is redacted as the
    /// daemon does, and what may be stored holds no unsafe name (no control character, nothing
    /// over the protocol's limit unless keyed-hashed).
    public static func protocolRequest(_ bytes: UnsafeRawBufferPointer) {
        guard let request = try? ProtocolRequest.decode(bytes) else { return }
        guard case .emit(let event) = request else { return }
        let redacted = redactor.redact(event, peer: PeerCredentials(uid: 0, gid: 0, pid: 1))
        if let user = redacted.user {
            precondition(!DisplaySafe.needsEscaping(user), "a stored user name holds a control character")
            precondition(
                user.utf8.count <= WireProtocol.maximumNameBytes || user.hasPrefix("hmac-sha256:"),
                "a stored user name is too long")
        }
        _ = ProtocolResponse.line(["user": redacted.user.map(JSONValue.string) ?? .null])
    }

    /// Any configuration text: applied or reported line by line, never a crash; every problem
    /// names a line of the file.
    public static func configuration(_ bytes: UnsafeRawBufferPointer) {
        let text = String(decoding: bytes, as: UTF8.self)
        var config = DaemonConfig()
        var problems: [ConfigProblem] = []
        config.apply(text, file: "/fuzz/authsignald.conf", problems: &problems)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).count
        for problem in problems {
            precondition(problem.file == "/fuzz/authsignald.conf" && problem.line >= 1 && problem.line <= lines)
        }
        _ = config.settings
    }
}
