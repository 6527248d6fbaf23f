import AuditStore
import AuthSignalCore
import Foundation
import Logging
import NIOCore
import NIOEmbedded
import Synchronization
import TestSupport
import Testing

@testable import AuthSignalDaemon

/// The connection handler in process, on NIO's testing channel, in front of a real request
/// processor and a real audit log: no socket, no daemon process.
///
/// Serialized: the store receivers connect to the process-wide auth signals. Other suites of the
/// test process may send those signals too, so their events can land in these logs: the tests
/// send with a sender of their own, filter on it, and expect increasing seqs, not consecutive ones.
@Suite("Ingress, in process", .serialized)
struct IngressTests {
    /// A processor over a fresh audit log, its receivers connected until ``close()``.
    final class Fixture: Sendable {
        let directory: TemporaryDirectory
        let store: AuditStore
        let receivers: AuditReceivers
        let processor: RequestProcessor

        init(maxInFlight: Int = 256, maxFrameBytes: Int = 4096) throws {
            directory = try TemporaryDirectory()
            store = try AuditStore(path: directory.path + "/audit.db")
            receivers = AuditReceivers(store: store, journal: nil)
            receivers.ready(journal: false)
            var config = DaemonConfig()
            config.maxInFlight = maxInFlight
            config.maxFrameBytes = maxFrameBytes
            let key = try RedactionKey(bytes: Array(repeating: 7, count: 32))
            processor = RequestProcessor(
                store: store, receivers: receivers, journal: nil, followers: FollowerHub(),
                runtime: Runtime(config: config, key: key))
        }

        /// A connection from `uid`, with a handler before it that counts the reads it passes on.
        func connect(uid: UInt32 = 0) async throws -> (NIOAsyncTestingChannel, ReadCounter) {
            let counter = ReadCounter()
            let processor = self.processor
            let channel = try await NIOAsyncTestingChannel { channel in
                try channel.pipeline.syncOperations.addHandler(counter)
                try channel.pipeline.syncOperations.addHandler(
                    ConnectionHandler(
                        processor: processor,
                        peer: PeerIdentity(credentials: PeerCredentials(uid: uid, gid: uid, pid: 4242)),
                        connectionID: 1, logger: Logger(label: "ingress-test")))
            }
            try await channel.connect(to: SocketAddress(unixDomainSocketPath: "/ingress-test")).get()
            return (channel, counter)
        }

        func close() async throws {
            receivers.unready()
            try await store.close()
        }
    }

    /// Counts the `read()`s that reach the head of the pipeline.
    final class ReadCounter: ChannelOutboundHandler, Sendable {
        typealias OutboundIn = ByteBuffer
        let reads = Atomic<Int>(0)

        func read(context: ChannelHandlerContext) {
            reads.add(1, ordering: .relaxed)
            context.read()
        }
    }

    /// The sender of every event these tests send.
    static let sender = "ingress-test"

    /// The seqs in acknowledgement lines, which must be increasing.
    static func seqs(_ lines: some Sequence<String>) throws -> [Int64] {
        try lines.map { line in
            guard case .int(let seq)? = try object(line)["seq"] else { throw ProtocolError(.invalidJSON, line) }
            return seq
        }
    }

    /// How many of this suite's events the fixture's log holds.
    static func stored(_ fixture: Fixture) async throws -> Int {
        var count = 0
        for try await _ in fixture.store.records(matching: RecordFilter(sender: sender)) { count += 1 }
        return count
    }

    static func emit(_ user: String, id: String? = nil) -> String {
        let key = id.map { #","id":"\#($0)""# } ?? ""
        return #"{"op":"emit","signal":"user_logged_in","sender":"\#(sender)","user":"\#(user)"\#(key)}"# + "\n"
    }

    /// Reads what the handler wrote until `count` lines have come (or 10 s pass).
    static func lines(_ channel: NIOAsyncTestingChannel, count: Int) async throws -> [String] {
        var text = ""
        let deadline = ContinuousClock.now + .seconds(10)
        while text.filter({ $0 == "\n" }).count < count, ContinuousClock.now < deadline {
            if let buffer = try await channel.readOutbound(as: ByteBuffer.self) {
                text += String(buffer: buffer)
            } else {
                try await Task.sleep(for: .milliseconds(2))
            }
        }
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    /// The error code of an error line.
    static func errorCode(_ line: String) throws -> String? {
        guard case .object(let error)? = try object(line)["error"], case .string(let code)? = error["code"] else {
            return nil
        }
        return code
    }

    static func object(_ line: String) throws -> JSONObject {
        guard case .object(let object) = try JSONParser.parse(Array(line.utf8)) else {
            throw ProtocolError(.invalidJSON, "not an object")
        }
        return object
    }

    @Test func pipelinedRequestsAreAnsweredInOrderAndAReadSeesEveryEarlierEmit() async throws {
        let fixture = try Fixture()
        let (channel, _) = try await fixture.connect()
        let burst =
            (0..<20).map { Self.emit("user\($0)") }.joined() + #"{"op":"query","sender":"ingress-test"}"# + "\n"
            + Self.emit("after")
        try await channel.writeInbound(ByteBuffer(string: burst))
        // Twenty acks in order, then the query's records and its count, then the last ack. The query
        // sees every earlier emit; the later one, dispatched before the query's turn came, it may
        // see too.
        var lines = try await Self.lines(channel, count: 20 + 20 + 1 + 1)
        if lines.count > 41, try Self.object(lines[40])["record"] != nil {
            lines = try await Self.lines(channel, count: 1).reduce(into: lines) { $0.append($1) }
        }
        let acks = try Self.seqs(lines.prefix(20))
        #expect(acks == acks.sorted() && Set(acks).count == 20)
        let records = try lines.dropFirst(20).prefix { try Self.object($0)["record"] != nil }.map {
            try Self.object($0)["record"]
        }
        let users = records.compactMap { if case .object(let record)? = $0 { record["user"] } else { nil } }
        #expect(users.prefix(20) == ArraySlice((0..<20).map { JSONValue.string("user\($0)") }))
        #expect(users.count == 20 || users.last == .string("after"))
        #expect(lines.count == 20 + records.count + 2)
        #expect(try Self.object(lines[20 + records.count])["count"] == .int(Int64(records.count)))
        #expect(try Self.seqs([lines[lines.count - 1]]).first ?? 0 > acks.last ?? .max)
        try await fixture.close()
    }

    @Test func badAndForbiddenLinesAreAnsweredInTheirPlaceAndTheRestIsServed() async throws {
        let fixture = try Fixture()
        let (channel, _) = try await fixture.connect(uid: 4242)
        try await channel.writeInbound(
            ByteBuffer(string: "{nope\n" + #"{"op":"stats"}"# + "\n" + #"{"op":"ping"}"# + "\n"))
        let lines = try await Self.lines(channel, count: 3)
        #expect(lines.count == 3)
        #expect(try Self.errorCode(lines[0]) == "invalid_json")
        #expect(try Self.errorCode(lines[1]) == "forbidden")
        #expect(try Self.object(lines[2])["daemon"] == .string("authsignald"))
        try await fixture.close()
    }

    @Test func atTheInFlightLimitReadsAreHeldUntilAnswersLeave() async throws {
        let fixture = try Fixture(maxInFlight: 2)
        let (channel, counter) = try await fixture.connect()
        // The socket does not drain: nothing is taken and the pipeline's reads stop.
        channel.isWritable = false
        try await channel.writeInbound(ByteBuffer(string: (0..<5).map { Self.emit("u\($0)") }.joined()))
        let before = counter.reads.load(ordering: .relaxed)
        channel.read()
        try await Task.sleep(for: .milliseconds(50))
        #expect(counter.reads.load(ordering: .relaxed) == before)
        #expect(try await Self.stored(fixture) == 0)
        // It drains: the five lines are taken two at a time, and the held read goes ahead.
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        let lines = try await Self.lines(channel, count: 5)
        let acks = try Self.seqs(lines)
        #expect(acks.count == 5 && acks == acks.sorted())
        try await Task.sleep(for: .milliseconds(20))
        #expect(counter.reads.load(ordering: .relaxed) > before)
        try await fixture.close()
    }

    @Test func aTooLargeLineIsRefusedAfterTheAnswersBeforeItAndTheConnectionCloses() async throws {
        let fixture = try Fixture(maxFrameBytes: 512)
        let (channel, _) = try await fixture.connect()
        let oversized = #"{"op":"ping","x":""# + String(repeating: "a", count: 600) + "\"}\n"
        try await channel.writeInbound(ByteBuffer(string: Self.emit("first") + oversized + Self.emit("never")))
        let lines = try await Self.lines(channel, count: 2)
        #expect(lines.count == 2)
        #expect(try Self.seqs([lines[0]]).count == 1)
        #expect(try Self.errorCode(lines[1]) == "too_large")
        try await channel.closeFuture.get()
        #expect(try await Self.stored(fixture) == 1)
        try await fixture.close()
    }

    @Test func drainingAnswersEveryRequestTakenThenCloses() async throws {
        let fixture = try Fixture()
        let (channel, _) = try await fixture.connect()
        try await channel.writeInbound(ByteBuffer(string: (0..<10).map { Self.emit("d\($0)") }.joined()))
        channel.pipeline.fireUserInboundEventTriggered(ConnectionHandler.Drain())
        let lines = try await Self.lines(channel, count: 10)
        let acks = try Self.seqs(lines)
        #expect(acks.count == 10 && acks == acks.sorted())
        try await channel.closeFuture.get()
        try await fixture.close()
    }
}
