import AuthSignalProtocol
import NIOCore
import Testing

@testable import AuthSignalDaemon

/// The connection's rules alone: no channel, no daemon. Outputs are strings.
@Suite("Connection state machine")
struct ConnectionStateMachineTests {
    typealias Machine = ConnectionStateMachine<String>

    static let limits = Machine.Limits(maxFrameBytes: 16, maxInFlight: 3)

    /// Feeds `text` as one read.
    static func feed(_ machine: inout Machine, _ text: String) {
        var bytes = ByteBuffer(string: text)
        machine.received(&bytes)
    }

    /// Takes every request line that may be taken now: each line's text, or the refusal's code.
    static func take(_ machine: inout Machine, isWritable: Bool = true) -> [(String, UInt64)] {
        var taken: [(String, UInt64)] = []
        while let next = machine.nextRequest(limits, isWritable: isWritable) {
            switch next {
            case .line(let line, let slot): taken.append((String(buffer: line), slot))
            case .refused(let error, let slot): taken.append((error.code.rawValue, slot))
            }
        }
        return taken
    }

    /// The outputs written by `actions`, in order.
    static func written(_ actions: [Machine.Action]?) -> [String] {
        (actions ?? []).compactMap { if case .write(let output) = $0 { output } else { nil } }
    }

    @Test func linesArriveInPiecesAndInBatchesAndAreTakenInOrder() {
        var machine = Machine()
        Self.feed(&machine, #"{"op":"#)
        #expect(Self.take(&machine).isEmpty)
        Self.feed(&machine, "\"ping\"}\nab\n")
        Self.feed(&machine, "c")
        #expect(Self.take(&machine).map(\.0) == [#"{"op":"ping"}"#, "ab"])
        Self.feed(&machine, "\n")
        #expect(Self.take(&machine).map(\.0) == ["c"])
    }

    @Test func answersLeaveInRequestOrderWhateverOrderTheyFinishIn() {
        var machine = Machine()
        Self.feed(&machine, "a\nb\nc\n")
        let slots = Self.take(&machine).map(\.1)
        #expect(machine.write("b-record", slot: slots[1]) == .queued)
        #expect(Self.written(machine.finish(slots[2], final: "c-ok")).isEmpty)
        #expect(Self.written(machine.finish(slots[1], final: "b-ok")).isEmpty)
        #expect(machine.write("a-record", slot: slots[0]) == .now)
        #expect(Self.written(machine.finish(slots[0], final: "a-ok")) == ["a-ok", "b-record", "b-ok", "c-ok"])
        #expect(machine.openSlots == 0)
        #expect(machine.write("late", slot: slots[0]) == .gone)
        #expect(machine.finish(slots[0], final: "again") == nil)
    }

    @Test func atTheInFlightLimitLinesWaitAsBytesAndReadsAreHeldUntilAnAnswerLeaves() {
        var machine = Machine()
        Self.feed(&machine, "1\n2\n3\n4\n5\n")
        let first = Self.take(&machine)
        #expect(first.map(\.0) == ["1", "2", "3"])
        #expect(machine.readRequested(Self.limits, isWritable: true) == false)
        #expect(machine.resumeReading(Self.limits, isWritable: true) == false)
        _ = machine.finish(first[0].1, final: "ok1")
        #expect(Self.take(&machine).map(\.0) == ["4"])
        // Still backlogged ("5" waits): no read yet.
        #expect(machine.resumeReading(Self.limits, isWritable: true) == false)
        _ = machine.finish(first[1].1, final: "ok2")
        #expect(Self.take(&machine).map(\.0) == ["5"])
        _ = machine.finish(first[2].1, final: "ok3")
        #expect(Self.take(&machine).isEmpty)
        #expect(machine.resumeReading(Self.limits, isWritable: true) == true)
        #expect(machine.readRequested(Self.limits, isWritable: true) == true)
    }

    @Test func theLimitsAreNeededOnlyWithBytesWaitingOrAReadHeld() {
        var machine = Machine()
        #expect(machine.mayTakeOrResume == false)
        Self.feed(&machine, "1\n")
        #expect(machine.mayTakeOrResume == true)
        #expect(Self.take(&machine).count == 1)
        #expect(machine.mayTakeOrResume == false)
        #expect(machine.readRequested(Machine.Limits(maxFrameBytes: 16, maxInFlight: 1), isWritable: true) == false)
        #expect(machine.mayTakeOrResume == true)
    }

    @Test func aSocketThatDoesNotDrainStopsTakingAndReading() {
        var machine = Machine()
        Self.feed(&machine, "1\n2\n")
        #expect(Self.take(&machine, isWritable: false).isEmpty)
        #expect(machine.readRequested(Self.limits, isWritable: false) == false)
        #expect(Self.take(&machine, isWritable: true).map(\.0) == ["1", "2"])
        #expect(machine.resumeReading(Self.limits, isWritable: true) == true)
    }

    @Test func aReadStartsOnlyOnceEveryEarlierRequestIsAnswered() {
        var machine = Machine()
        Self.feed(&machine, "emit\nquery\n")
        let slots = Self.take(&machine).map(\.1)
        #expect(machine.start(slots[1]) == false)
        let actions = machine.finish(slots[0], final: "acked") ?? []
        guard actions.count == 2, case .write("acked") = actions[0], case .start(let started) = actions[1] else {
            Issue.record("expected the ack, then the start: \(actions)")
            return
        }
        #expect(started == slots[1])
        #expect(machine.start(slots[1]) == true)
    }

    @Test func aTooLongLineIsRefusedOnceAndTheConnectionLingersAfterItsAnswers() {
        var machine = Machine()
        Self.feed(&machine, "ok\n" + String(repeating: "x", count: 17))
        let taken = Self.take(&machine)
        #expect(taken.map(\.0) == ["ok", "too_large"])
        // Nothing more is taken or stored, whatever arrives.
        Self.feed(&machine, "more\n")
        #expect(Self.take(&machine).isEmpty)
        #expect(machine.closeIfDone() == nil)
        _ = machine.finish(taken[1].1, final: "too-large")
        #expect(machine.closeIfDone() == nil)
        _ = machine.finish(taken[0].1, final: "ok")
        #expect(machine.closeIfDone() == .lingering)
        #expect(machine.discarding)
        #expect(machine.readRequested(Self.limits, isWritable: true) == true)
        #expect(machine.closeIfDone() == nil)
        #expect(machine.inputEnded() == true)
    }

    @Test func aLineOfExactlyTheLimitIsTakenAndOneByteMoreIsNot() {
        var machine = Machine()
        Self.feed(&machine, String(repeating: "y", count: 16) + "\n")
        #expect(Self.take(&machine).map(\.0) == [String(repeating: "y", count: 16)])
        var other = Machine()
        Self.feed(&other, String(repeating: "y", count: 17) + "\n")
        #expect(Self.take(&other).map(\.0) == ["too_large"])
    }

    @Test func theEndOfInputServesTheRemainingLinesThenRefusesAPartialOneAndCloses() {
        var machine = Machine()
        Self.feed(&machine, "1\n2\n3\n4\npartial")
        let first = Self.take(&machine)
        #expect(machine.inputEnded() == false)
        #expect(machine.closeIfDone() == nil)
        for (_, slot) in first { _ = machine.finish(slot, final: "ok") }
        let rest = Self.take(&machine)
        #expect(rest.map(\.0) == ["4", "invalid_request"])
        #expect(machine.closeIfDone() == nil)
        for (_, slot) in rest { _ = machine.finish(slot, final: "ok") }
        #expect(machine.closeIfDone() == .afterWrites)
        #expect(machine.closeIfDone() == nil)
    }

    @Test func drainingFinishesWhatWasTakenAndLingersOverUnreadInput() {
        var machine = Machine()
        Self.feed(&machine, "1\n2\n3\n4\n")
        let taken = Self.take(&machine)
        machine.drain()
        #expect(Self.take(&machine).isEmpty)
        #expect(machine.readRequested(Self.limits, isWritable: true) == false)
        #expect(machine.closeIfDone() == nil)
        for (_, slot) in taken { _ = machine.finish(slot, final: "ok") }
        #expect(machine.closeIfDone() == .lingering)

        var idle = Machine()
        idle.drain()
        #expect(idle.closeIfDone() == .afterWrites)
    }

    @Test func aClosedConnectionHandsBackEveryKeptOutput() {
        var machine = Machine()
        Self.feed(&machine, "1\n2\n3\n")
        let slots = Self.take(&machine).map(\.1)
        _ = machine.write("r2", slot: slots[1])
        _ = machine.finish(slots[2], final: "ok3")
        #expect(machine.connectionEnded() == ["r2", "ok3"])
        #expect(machine.openSlots == 0)
    }
}

@Suite("Line framer")
struct LineFramerTests {
    @Test func aLongLineArrivingByteByByteIsScannedOnceAndRefusedAsSoonAsItIsTooLong() {
        var framer = LineFramer()
        for index in 0..<10 {
            var byte = ByteBuffer(string: "z")
            framer.append(&byte)
            #expect(framer.next(maximumLength: 9) == (index < 9 ? nil : .tooLong))
        }
    }

    @Test func linesAreSlicesWithoutTheirNewlineAndEmptyLinesCount() {
        var framer = LineFramer()
        var bytes = ByteBuffer(string: "a\n\nbc\nd")
        framer.append(&bytes)
        #expect(bytes.readableBytes == 0)
        #expect(framer.next(maximumLength: 8) == .line(ByteBuffer(string: "a")))
        #expect(framer.next(maximumLength: 8) == .line(ByteBuffer(string: "")))
        #expect(framer.next(maximumLength: 8) == .line(ByteBuffer(string: "bc")))
        #expect(framer.next(maximumLength: 8) == nil)
        #expect(framer.bufferedBytes == 1)
        framer.discardAll()
        #expect(framer.bufferedBytes == 0)
    }
}
