import Logging
import Signals
import Synchronization

/// Records what receivers saw, from any thread.
final class Recorder<Value: Sendable>: Sendable {
    private let storage = Mutex<[Value]>([])

    func record(_ value: Value) { storage.withLock { $0.append(value) } }
    var values: [Value] { storage.withLock { $0 } }
    var count: Int { storage.withLock { $0.count } }
}

/// An object that owns receivers or sends signals.
final class Owner: Sendable {
    let name: String
    init(_ name: String) { self.name = name }
}

struct Boom: Error, Equatable, CustomStringConvertible {
    let reason: String
    var description: String { "boom: \(reason)" }
}

/// A swift-log handler that keeps every message, so tests can check what was logged.
struct CapturingLogHandler: LogHandler {
    struct Entry: Sendable {
        let level: Logger.Level
        let message: String
        let metadata: Logger.Metadata
    }

    let entries: Recorder<Entry>
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        entries.record(Entry(level: event.level, message: "\(event.message)", metadata: event.metadata ?? [:]))
    }

    static func logger() -> (Logger, Recorder<Entry>) {
        let entries = Recorder<Entry>()
        return (Logger(label: "test") { _ in CapturingLogHandler(entries: entries) }, entries)
    }
}

/// Two async receivers meet here; each waits (up to a deadline) for the other to arrive, so they
/// can only both succeed when they run at the same time.
actor Rendezvous {
    private var arrived = 0
    private let expected: Int

    init(expected: Int) { self.expected = expected }

    /// Returns true when all parties arrived before the deadline.
    func meet(deadline: Duration = .seconds(5)) async -> Bool {
        arrived += 1
        let clock = ContinuousClock()
        let end = clock.now + deadline
        while arrived < expected {
            if clock.now >= end { return false }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return true
    }
}

/// The synchronous ways to send: each must reach the same receivers in the same order.
enum SendWay: String, CaseIterable, Sendable {
    case send, sendRobust, dispatch, dispatchRobust

    /// Whether an error a receiver throws stops the send and propagates.
    var propagatesErrors: Bool { self == .send || self == .dispatch }

    /// Sends `payload` this way.
    func send<Payload>(_ signal: Signal<Payload>, sender: Sender? = nil, _ payload: Payload) throws {
        switch self {
        case .send: try signal.send(sender: sender, payload)
        case .sendRobust: signal.sendRobust(sender: sender, payload)
        case .dispatch: try signal.dispatch(sender: sender, payload)
        case .dispatchRobust: signal.dispatchRobust(sender: sender, payload)
        }
    }
}
