// Load generator for authsignald, speaking protocol v1 on the real socket (scripts/bench runs it).
//
//   authsignal-load ingest --socket PATH --clients N --events N [--window N] [--rate EVENTS_PER_S]
//   authsignal-load query  --socket PATH --runs N
//   authsignal-load stream --socket PATH
//
// Each prints one JSON line of figures. `ingest` keeps up to --window requests in flight per
// client (pipelining) and measures each acknowledgement's latency from the moment its request was
// written; with --rate the clients pace themselves to that total rate.
import AuthSignalCore
import AuthSignalProtocol
import Foundation
import Glibc
import Synchronization

struct Options {
    var mode = ""
    var socket = "/run/authsignald/authsignald.sock"
    var clients = 8
    var events = 100_000
    var window = 64
    var rate: Double?
    var runs = 2000

    init(_ arguments: [String]) {
        guard arguments.count > 1 else { Self.usage() }
        mode = arguments[1]
        var index = 2
        while index + 1 < arguments.count {
            let value = arguments[index + 1]
            switch arguments[index] {
            case "--socket": socket = value
            case "--clients": clients = Int(value) ?? clients
            case "--events": events = Int(value) ?? events
            case "--window": window = Int(value) ?? window
            case "--rate": rate = Double(value)
            case "--runs": runs = Int(value) ?? runs
            default: Self.usage()
            }
            index += 2
        }
        if index != arguments.count || !["ingest", "query", "stream"].contains(mode) { Self.usage() }
    }

    static func usage() -> Never {
        FileHandle.standardError.write(
            Data(
                "usage: authsignal-load ingest|query|stream --socket PATH [--clients N] [--events N] [--window N] [--rate R] [--runs N]\n"
                    .utf8))
        exit(64)
    }
}

/// A blocking connection with a read buffer.
final class Connection {
    let fd: Int32
    private var buffer = [UInt8](repeating: 0, count: 1 << 16)
    private var start = 0
    private var end = 0

    init(_ path: String) {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        let result = withUnixAddress(path) { connect(fd, $0, $1) }
        guard result == 0 else { fail("connect \(path): \(String(cString: strerror(errno)))") }
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            guard written > 0 else { fail("send: \(String(cString: strerror(errno)))") }
            offset += written
        }
    }

    /// Whether a whole line is already buffered.
    var hasBufferedLine: Bool { buffer[start..<end].contains(UInt8(ascii: "\n")) }

    /// Calls `body` with the next line's bytes (without the newline); false at end of stream.
    func readLine(_ body: (UnsafeBufferPointer<UInt8>) -> Void) -> Bool {
        while true {
            if let newline = buffer[start..<end].firstIndex(of: UInt8(ascii: "\n")) {
                buffer.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[start..<newline])) }
                start = newline + 1
                return true
            }
            if start > 0 {
                buffer.copyWithinRange(start..<end, to: 0)
                end -= start
                start = 0
            }
            if end == buffer.count { buffer += [UInt8](repeating: 0, count: buffer.count) }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + end, $0.count - end, 0) }
            guard count > 0 else { return false }
            end += count
        }
    }
}

extension Array where Element == UInt8 {
    mutating func copyWithinRange(_ range: Range<Int>, to destination: Int) {
        withUnsafeMutableBufferPointer { pointer in
            let base = pointer.baseAddress!
            (base + destination).update(from: base + range.lowerBound, count: range.count)
        }
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("authsignal-load: \(message)\n".utf8))
    exit(1)
}

func now() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

func percentile(_ sorted: [UInt64], _ fraction: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    return Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]) / 1e6
}

/// A realistic event line: 10,000 users, 50,000 addresses; a quarter are failures with a password.
func eventLine(_ client: Int, _ index: Int) -> [UInt8] {
    var state = UInt64(client &* 1_000_003 &+ index) &* 0x9E37_79B9_7F4A_7C15
    state ^= state >> 29
    let user = "user\(String(format: "%05d", Int(state % 10_000)))"
    let address = Int((state >> 16) % 50_000)
    let roll = Int((state >> 40) % 100)
    let signal = roll < 60 ? "user_logged_in" : roll < 85 ? "user_logged_out" : "user_login_failed"
    var line = #"{"op":"emit","signal":"\#(signal)","sender":"sshd","user":"\#(user)","#
    line +=
        #""request":{"remote_addr":"198.18.\#(address / 256).\#(address % 256)","remote_port":\#(1024 + index % 60000),"service":"sshd","tty":"ssh"}"#
    if signal == "user_login_failed" {
        line += #","credentials":{"username":"\#(user)","password":"guess\#(state % 5000)"}"#
    }
    line += "}\n"
    return Array(line.utf8)
}

let options = Options(CommandLine.arguments)

switch options.mode {
case "ingest":
    let perClient = options.events / options.clients
    let latencies = Mutex<[UInt64]>([])
    let failures = Atomic<Int>(0)
    let interval = options.rate.map { UInt64(1e9 / ($0 / Double(options.clients))) }
    let begin = now()
    let threads = (0..<options.clients).map { client in
        Thread {
            let connection = Connection(options.socket)
            var sentAt = [UInt64](repeating: 0, count: perClient)
            var local: [UInt64] = []
            local.reserveCapacity(perClient)
            var sent = 0
            var acknowledged = 0
            let start = now()
            while acknowledged < perClient {
                // Fill the window; when paced, only with the events that are due.
                var batch: [UInt8] = []
                var nextDue: UInt64?
                while sent < perClient, sent - acknowledged < options.window {
                    if let interval {
                        let due = start + UInt64(sent) * interval
                        if now() < due {
                            nextDue = due
                            break
                        }
                    }
                    batch += eventLine(client, sent)
                    sentAt[sent] = now()
                    sent += 1
                }
                if !batch.isEmpty { connection.send(batch) }
                if sent == acknowledged {
                    if let nextDue {
                        let current = now()
                        if current < nextDue {
                            var wait = timespec(tv_sec: 0, tv_nsec: Int(nextDue - current))
                            nanosleep(&wait, nil)
                        }
                    }
                    continue
                }
                if let nextDue, !connection.hasBufferedLine {
                    // Wait for an answer, but no longer than until the next event is due.
                    let current = now()
                    let microseconds = current >= nextDue ? 0 : Int((nextDue - current) / 1000)
                    var timeout = timeval(tv_sec: microseconds / 1_000_000, tv_usec: microseconds % 1_000_000)
                    var readable = fd_set()
                    let word = Int(connection.fd) / (MemoryLayout<Int>.size * 8)
                    let bit = Int(connection.fd) % (MemoryLayout<Int>.size * 8)
                    withUnsafeMutableBytes(of: &readable) { raw in
                        raw.bindMemory(to: Int.self)[word] |= 1 << bit
                    }
                    if select(connection.fd + 1, &readable, nil, nil, &timeout) == 0 { continue }
                }
                let ok = connection.readLine { line in
                    // {"ok":true,"seq":N}: the 7th byte tells ok from error.
                    if line.count < 7 || line[6] != UInt8(ascii: "t") { failures.add(1, ordering: .relaxed) }
                }
                guard ok else { fail("the daemon closed the connection") }
                local.append(now() - sentAt[acknowledged])
                acknowledged += 1
            }
            latencies.withLock { $0 += local }
        }
    }
    for thread in threads { thread.start() }
    while latencies.withLock({ $0.count }) < perClient * options.clients { usleep(1000) }
    let elapsed = Double(now() - begin) / 1e9
    let sorted = latencies.withLock { $0 }.sorted()
    let figures: [String: Double] = [
        "events": Double(sorted.count), "seconds": elapsed, "events_per_s": Double(sorted.count) / elapsed,
        "p50_ms": percentile(sorted, 0.5), "p99_ms": percentile(sorted, 0.99),
        "errors": Double(failures.load(ordering: .relaxed)), "clients": Double(options.clients),
    ]
    print(String(decoding: try JSONSerialization.data(withJSONObject: figures, options: [.sortedKeys]), as: UTF8.self))

case "query":
    // One user's failures, a different user each run (warm cache: one pass first).
    let connection = Connection(options.socket)
    var times: [UInt64] = []
    var rows = 0
    for run in -200..<options.runs {
        let user = "user\(String(format: "%05d", (run + 200) * 7919 % 10_000))"
        let start = now()
        connection.send(Array(#"{"op":"query","user":"\#(user)","signal":"user_login_failed"}"#.utf8) + [10])
        var done = false
        while !done {
            guard
                connection.readLine({ line in
                    if line.count > 2, line[2] == UInt8(ascii: "r") { rows += run >= 0 ? 1 : 0 } else { done = true }
                })
            else { fail("the daemon closed the connection") }
        }
        if run >= 0 { times.append(now() - start) }
    }
    times.sort()
    let figures: [String: Double] = [
        "queries": Double(times.count), "rows": Double(rows), "p50_ms": percentile(times, 0.5),
        "p99_ms": percentile(times, 0.99),
    ]
    print(String(decoding: try JSONSerialization.data(withJSONObject: figures, options: [.sortedKeys]), as: UTF8.self))

default:
    // Stream every failure record as JSON lines.
    let connection = Connection(options.socket)
    let start = now()
    connection.send(Array(#"{"op":"query","signal":"user_login_failed"}"#.utf8) + [10])
    var records = 0
    var bytes = 0
    var done = false
    while !done {
        guard
            connection.readLine({ line in
                bytes += line.count + 1
                if line.count > 2, line[2] == UInt8(ascii: "r") { records += 1 } else { done = true }
            })
        else { fail("the daemon closed the connection") }
    }
    let elapsed = Double(now() - start) / 1e9
    let figures: [String: Double] = [
        "records": Double(records), "seconds": elapsed, "records_per_s": Double(records) / elapsed,
        "mib": Double(bytes) / 1_048_576,
    ]
    print(String(decoding: try JSONSerialization.data(withJSONObject: figures, options: [.sortedKeys]), as: UTF8.self))
}
