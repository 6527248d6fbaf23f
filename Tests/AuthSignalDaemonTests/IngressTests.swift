import AuditStore
import AuthSignalCore
import AuthSignalProtocol
import Foundation
import Logging
import NIOCore
import NIOEmbedded
import SpawnSupport
import Synchronization
import TestSupport
import Testing

@testable import AuthSignalDaemon

/// The connection handler in process, on NIO's testing channel, in front of a real request
/// processor and a real audit log (``DaemonHarness``): no socket, no daemon process. Each test's
/// harness has its own signals, so the tests run in parallel and each log holds its own events
/// only: seqs are consecutive.
@Suite("Ingress, in process")
struct IngressTests {
    @Test func pipelinedRequestsAreAnsweredInOrderAndAReadSeesEveryEarlierEmit() async throws {
        let fixture = try DaemonHarness()
        let connection = try await fixture.connect()
        let channel = connection.channel
        let burst =
            (0..<20).map { Self.line("user\($0)") }.joined() + #"{"op":"query"}"# + "\n"
            + Self.line("after")
        try await channel.writeInbound(ByteBuffer(string: burst))
        // Twenty acks in order, then the query's records and its count, then the last ack. The query
        // sees every earlier emit; the later one, dispatched before the query's turn came, it may
        // see too.
        var lines = try await connection.lines(20 + 20 + 1 + 1)
        if lines.count > 41, try Answer.object(lines[40])["record"] != nil {
            lines = try await connection.lines(1).reduce(into: lines) { $0.append($1) }
        }
        let acks = try Answer.seqs(lines.prefix(20))
        #expect(acks == Array(1...20))
        let records = try lines.dropFirst(20).prefix { try Answer.object($0)["record"] != nil }.map {
            try Answer.object($0)["record"]
        }
        let users = records.compactMap { if case .object(let record)? = $0 { record["user"] } else { nil } }
        #expect(users.prefix(20) == ArraySlice((0..<20).map { JSONValue.string("user\($0)") }))
        #expect(users.count == 20 || users.last == .string("after"))
        #expect(lines.count == 20 + records.count + 2)
        #expect(try Answer.object(lines[20 + records.count])["count"] == .int(Int64(records.count)))
        #expect(try Answer.seqs([lines[lines.count - 1]]).first ?? 0 > acks.last ?? .max)
        try await fixture.close()
    }

    @Test func badAndForbiddenLinesAreAnsweredInTheirPlaceAndTheRestIsServed() async throws {
        let fixture = try DaemonHarness()
        let connection = try await fixture.connect(uid: 4242)
        let channel = connection.channel
        try await channel.writeInbound(
            ByteBuffer(string: "{nope\n" + #"{"op":"stats"}"# + "\n" + #"{"op":"ping"}"# + "\n"))
        let lines = try await connection.lines(3)
        #expect(lines.count == 3)
        #expect(try Answer.errorCode(lines[0]) == "invalid_json")
        #expect(try Answer.errorCode(lines[1]) == "forbidden")
        #expect(try Answer.object(lines[2])["daemon"] == .string("authsignald"))
        try await fixture.close()
    }

    @Test func atTheInFlightLimitReadsAreHeldUntilAnswersLeave() async throws {
        let fixture = try DaemonHarness { $0.maxInFlight = 2 }
        let connection = try await fixture.connect()
        let (channel, counter) = (connection.channel, connection.reads)
        // The socket does not drain: nothing is taken and the pipeline's reads stop.
        channel.isWritable = false
        try await channel.writeInbound(ByteBuffer(string: (0..<5).map { Self.line("u\($0)") }.joined()))
        let before = counter.reads.load(ordering: .relaxed)
        channel.read()
        try await Task.sleep(for: .milliseconds(50))
        #expect(counter.reads.load(ordering: .relaxed) == before)
        #expect(try await fixture.records().count == 0)
        // It drains: the five lines are taken two at a time, and the held read goes ahead.
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        let lines = try await connection.lines(5)
        #expect(try Answer.seqs(lines) == Array(1...5))
        try await Task.sleep(for: .milliseconds(20))
        #expect(counter.reads.load(ordering: .relaxed) > before)
        try await fixture.close()
    }

    @Test func aTooLargeLineIsRefusedAfterTheAnswersBeforeItAndTheConnectionCloses() async throws {
        let fixture = try DaemonHarness { $0.maxFrameBytes = 512 }
        let connection = try await fixture.connect()
        let channel = connection.channel
        let oversized = #"{"op":"ping","x":""# + String(repeating: "a", count: 600) + "\"}\n"
        try await channel.writeInbound(ByteBuffer(string: Self.line("first") + oversized + Self.line("never")))
        let lines = try await connection.lines(2)
        #expect(lines.count == 2)
        #expect(try Answer.seqs([lines[0]]).count == 1)
        #expect(try Answer.errorCode(lines[1]) == "too_large")
        try await channel.closeFuture.get()
        #expect(try await fixture.records().count == 1)
        try await fixture.close()
    }

    @Test func drainingAnswersEveryRequestTakenThenCloses() async throws {
        let fixture = try DaemonHarness()
        let connection = try await fixture.connect()
        let channel = connection.channel
        try await channel.writeInbound(ByteBuffer(string: (0..<10).map { Self.line("d\($0)") }.joined()))
        channel.pipeline.fireUserInboundEventTriggered(ConnectionHandler.Drain())
        let lines = try await connection.lines(10)
        #expect(try Answer.seqs(lines) == Array(1...10))
        try await channel.closeFuture.get()
        try await fixture.close()
    }

    /// An emit line with its newline.
    static func line(_ user: String) -> String { Answer.emit(user) + "\n" }
}
