import AuthSignalCore
import AuthSignalProtocol
import Foundation
import Synchronization
import TestSupport

@testable import AuditStore

/// Builds redacted events the way the daemon does: through the redactor.
enum Events {
    static let redactor = Redactor(
        mode: .hmac, key: try! RedactionKey(bytes: Array(repeating: 42, count: 32)), isKnownAccount: { _ in true })
    static let peer = PeerCredentials(uid: 1000, gid: 1000, pid: 4242)

    static func make(
        _ signal: AuthSignal = .userLoginFailed, user: String = "alice", sender: String = "sshd",
        address: String? = "203.0.113.9", id: String? = nil, time: Date? = nil
    ) -> RedactedEvent {
        var request: JSONObject = ["service": .string(sender), "tty": .string("ssh")]
        if let address { request["remote_addr"] = .string(address) }
        let credentials: JSONObject? =
            signal == .userLoginFailed ? ["username": .string(user), "password": .string("hunter2")] : nil
        return redactor.redact(
            AuthEvent(
                signal: signal, sender: sender, user: user, request: request, credentials: credentials, time: time,
                id: id),
            peer: peer)
    }
}

/// Collects values from signal receivers.
final class Collected<Value: Sendable>: Sendable {
    private let storage = Mutex<[Value]>([])
    func add(_ value: Value) { storage.withLock { $0.append(value) } }
    var values: [Value] { storage.withLock { $0 } }
}

extension AuditStore {
    /// Every record, oldest first.
    func all(_ filter: RecordFilter = RecordFilter()) async throws -> [AuditRecord] {
        var found: [AuditRecord] = []
        for try await record in records(matching: filter, pageSize: 7) { found.append(record) }
        return found
    }

    /// Appends `count` events, `concurrency` at a time.
    @discardableResult
    func fill(_ count: Int, make: @escaping @Sendable (Int) -> RedactedEvent = { _ in Events.make() }) async throws
        -> [Int64]
    {
        try await withThrowingTaskGroup(of: Int64.self) { group in
            for index in 0..<count { group.addTask { try await self.append(make(index)).seq } }
            return try await group.reduce(into: []) { $0.append($1) }.sorted()
        }
    }
}
