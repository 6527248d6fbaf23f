import ArgumentParser
import AuthSignalClient
import AuthSignalProtocol
import Foundation

func printOut(_ text: String) { FileHandle.standardOutput.write(Data(text.utf8)) }

/// Standard output through a buffer of about 64 KiB, for commands that print many lines: one
/// write per record cost more than the record. Call ``flush()`` before exiting.
final class BufferedOutput {
    private var buffer: [UInt8] = []
    private static let size = 65536

    init() { buffer.reserveCapacity(Self.size + 4096) }

    /// Adds `text`, writing out once the buffer is full.
    func write(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= Self.size { flush() }
    }

    /// Writes out what is buffered.
    func flush() {
        guard !buffer.isEmpty else { return }
        FileHandle.standardOutput.write(Data(buffer))
        buffer.removeAll(keepingCapacity: true)
    }
}

/// Whether colour may be used: a terminal, and no NO_COLOR.
var stdoutIsColourTerminal: Bool {
    isatty(1) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
}

/// A one-line progress counter on stderr, shown only when stderr is a terminal and only every
/// 10,000 items, so that piped output and short runs stay quiet.
final class Progress {
    private let enabled = isatty(2) == 1
    private var shown = false

    func update(_ count: Int, of total: Int?, what: String) {
        guard enabled, count % 10_000 == 0 else { return }
        shown = true
        let text = total.map { "\r\(count)/\($0) \(what)" } ?? "\r\(count) \(what)"
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// Shows `text` as the status line until ``done()`` (on a terminal only).
    func note(_ text: String) {
        guard enabled else { return }
        shown = true
        FileHandle.standardError.write(Data("\r\(text)".utf8))
    }

    func done() {
        if shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        shown = false
    }
}
