// Measures `Signal.send` and `Signal.dispatch` (the same send, returning no responses) against
// the floor (a plain array of closures called in a loop) and against Foundation's
// NotificationCenter, with the same receivers doing the same work.
//
// Run: swift run -c release signals-bench [--iterations N] [--rounds R]
// Prints a table, then one JSON object with ns/op per case and the ratios as its last line.
import Foundation
import Signals

/// The work every receiver does: add the payload's number to a counter. Each case has its own
/// counter and runs on one thread only.
final class Counter: @unchecked Sendable {
    var total = 0
}

struct Event: Sendable {
    let user: String
    let number: Int
}

struct Options {
    var iterations = 2_000_000
    var rounds = 7
    /// Skips NotificationCenter, for profiling the signal alone.
    var signalOnly = false

    init(_ arguments: [String]) {
        var index = 1
        while index < arguments.count {
            if arguments[index] == "--signal-only" {
                signalOnly = true
                index += 1
                continue
            }
            let value = index + 1 < arguments.count ? Int(arguments[index + 1]) : nil
            switch (arguments[index], value) {
            case ("--iterations", let value?): iterations = value
            case ("--rounds", let value?): rounds = value
            default:
                FileHandle.standardError.write(
                    Data("usage: signals-bench [--iterations N] [--rounds R] [--signal-only]\n".utf8))
                exit(2)
            }
            index += 2
        }
    }
}

let options = Options(CommandLine.arguments)

/// Runs `body` `options.iterations` times per round; returns the best round's ns per iteration
/// (the minimum is the figure least disturbed by other work on the machine) and the spread.
func measure(
    iterations: Int = options.iterations, _ body: (Int) throws -> Void
) rethrows -> (best: Double, median: Double) {
    var samples: [Double] = []
    for _ in 0..<options.rounds {
        let start = ContinuousClock.now
        for index in 0..<iterations { try body(index) }
        let elapsed = ContinuousClock.now - start
        let nanoseconds =
            Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
        samples.append(nanoseconds / Double(iterations))
    }
    samples.sort()
    return (samples[0], samples[samples.count / 2])
}

struct Row {
    let receivers: Int
    let floor: (best: Double, median: Double)
    let signal: (best: Double, median: Double)
    let dispatch: (best: Double, median: Double)
    let notificationCenter: (best: Double, median: Double)
}

let sender: Sender = "sshd"
let senderObject = NSString(string: "sshd")
let name = Notification.Name("user_logged_in")
var rows: [Row] = []
var checksum = 0

for count in [0, 1, 3, 10] {
    // The floor: closures in an array, called in a loop.
    let floorCounter = Counter()
    let closures: [@Sendable (Sender?, Event) -> Void] = (0..<count).map { _ in
        { _, event in floorCounter.total &+= event.number }
    }
    let floor = measure { index in
        let event = Event(user: "alice", number: index)
        for closure in closures { closure(sender, event) }
    }

    // The signal. With no receivers, the send is guarded by `hasListeners` as the daemon's hot
    // paths are, so the figure is the cost of that check; with receivers, a plain `send`.
    let signalCounter = Counter()
    let signal = Signal<Event>("user_logged_in")
    for _ in 0..<count {
        signal.connect(sender: sender) { _, event in signalCounter.total &+= event.number }
    }
    let sent = try measure { index in
        if count == 0 {
            if signal.hasListeners(sender: sender) {
                try signal.send(sender: sender, Event(user: "alice", number: index))
            }
        } else {
            try signal.send(sender: sender, Event(user: "alice", number: index))
        }
    }
    // The same receivers through `dispatch`, which returns no responses (with none connected,
    // its own emptiness check is the guard).
    let dispatched = try measure { index in
        try signal.dispatch(sender: sender, Event(user: "alice", number: index))
    }

    // NotificationCenter with the same number of observers doing the same work.
    let center = NotificationCenter()
    let centerCounter = Counter()
    var observers: [any NSObjectProtocol] = []
    for _ in 0..<count {
        observers.append(
            center.addObserver(forName: name, object: senderObject, queue: nil) { notification in
                centerCounter.total &+= (notification.userInfo?["number"] as? Int) ?? 0
            })
    }
    // NotificationCenter is two orders of magnitude slower: a twentieth of the posts suffices.
    let posts = max(options.iterations / 20, 1_000)
    let posted = measure(iterations: posts) { index in
        if options.signalOnly {
            centerCounter.total &+= count * index
            return
        }
        center.post(name: name, object: senderObject, userInfo: ["user": "alice", "number": index])
    }
    for observer in observers { center.removeObserver(observer) }

    let expectedCenterTotal = count * (0..<posts).reduce(0, +) * options.rounds
    // `send` and `dispatch` each did the floor's work.
    if floorCounter.total &* 2 != signalCounter.total || centerCounter.total != expectedCenterTotal {
        FileHandle.standardError.write(Data("receivers did different work: results differ\n".utf8))
        exit(1)
    }
    checksum &+= signalCounter.total
    rows.append(Row(receivers: count, floor: floor, signal: sent, dispatch: dispatched, notificationCenter: posted))
}

func format(_ value: Double) -> String { String(format: "%8.2f", value) }

print(
    "signals-bench: \(options.iterations) sends per round (NotificationCenter: 1/20 of that),",
    "best of \(options.rounds) rounds (median in brackets), ns/op"
)
print(
    "receivers  closure-array floor     Signal.send           Signal.dispatch       NotificationCenter   ",
    "send/floor  dispatch/floor  NC/send")
var json: [String: Double] = [:]
for row in rows {
    let overFloor = row.signal.best / max(row.floor.best, 0.01)
    let dispatchOverFloor = row.dispatch.best / max(row.floor.best, 0.01)
    let centerOverSignal = row.notificationCenter.best / row.signal.best
    print(
        String(format: "%9d", row.receivers),
        " \(format(row.floor.best)) (\(format(row.floor.median)))",
        " \(format(row.signal.best)) (\(format(row.signal.median)))",
        " \(format(row.dispatch.best)) (\(format(row.dispatch.median)))",
        " \(format(row.notificationCenter.best)) (\(format(row.notificationCenter.median)))",
        String(format: "  %9.2f  %14.2f  %7.1f", overFloor, dispatchOverFloor, centerOverSignal)
    )
    let key = "r\(row.receivers)"
    json["\(key)_floor_ns"] = row.floor.best
    json["\(key)_send_ns"] = row.signal.best
    json["\(key)_notification_center_ns"] = row.notificationCenter.best
    json["\(key)_send_over_floor"] = overFloor
    json["\(key)_dispatch_ns"] = row.dispatch.best
    json["\(key)_dispatch_over_floor"] = dispatchOverFloor
    json["\(key)_notification_center_over_send"] = centerOverSignal
}
json["unlistened_has_listeners_ns"] = rows[0].signal.best
print("checksum \(checksum)")
let encoder = JSONEncoder()
encoder.outputFormatting = [.sortedKeys]
print(String(decoding: try encoder.encode(json), as: UTF8.self))
