import ArgumentParser
import AuthSignalClient
import AuthSignalProtocol
import Foundation

extension AuthSignalCommand {
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import login history from wtmp and btmp files (the binary utmp format).",
            discussion: """
                wtmp gives logins, logouts (paired by tty, as last(1) does) and reboots; btmp gives \
                failed logins. Events keep their original times, are marked imported (sender \
                import-wtmp or import-btmp, request.imported), and carry an id made from the record, \
                so importing a file again stores nothing new. Malformed records are reported and \
                skipped. See docs/sessions.md.
                """)

        @OptionGroup var connection: Connection
        @Argument(help: "The files: /var/log/wtmp, /var/log/btmp, or rotated copies (uncompressed).")
        var files: [String]
        @Option(name: .customLong("as"), help: "wtmp or btmp (default: from each file's name).")
        var kind: String?
        @Option(
            parsing: .unconditional,
            help: "Only records before this time (when authsignal began recording, to avoid doubles).")
        var until: String?

        func validate() throws {
            if let kind, UtmpImport.Kind(rawValue: kind) == nil { throw ValidationError("--as must be wtmp or btmp") }
            for file in files where kind == nil && UtmpImport.Kind(path: file) == nil {
                throw ValidationError("cannot tell whether \(file) is wtmp or btmp from its name; use --as")
            }
        }

        func run() throws {
            let before = try Filters.time(until, option: "until", now: Date())
            let daemon = try connection.open()
            var refused = 0
            for file in files {
                let format = kind.flatMap(UtmpImport.Kind.init(rawValue:)) ?? UtmpImport.Kind(path: file)!
                refused += try importFile(file, as: format, before: before, to: daemon)
            }
            if refused > 0 { throw ExitStatus.unavailable.exit }
        }

        /// Reads `file` a chunk at a time and sends its events as they are read, 128 in flight, so
        /// that a file of any size takes constant memory (a whole 100 MB wtmp once took 409 MiB).
        /// Prints what it read and did; returns how many events the daemon refused.
        private func importFile(
            _ file: String, as format: UtmpImport.Kind, before: Date?, to daemon: DaemonConnection
        ) throws -> Int {
            guard let handle = FileHandle(forReadingAtPath: file) else {
                FileHandle.standardError.write(Data("authsignal: cannot read \(file)\n".utf8))
                throw ExitStatus.unavailable.exit
            }
            defer { try? handle.close() }
            let total = ((try? handle.seekToEnd()).map { Int($0) } ?? 0) / UtmpImport.recordSize
            try? handle.seek(toOffset: 0)
            var parser = UtmpImport(kind: format)
            var sender = PipelinedSender(daemon: daemon, file: file)
            var afterUntil = 0
            var pending = Data()
            let progress = Progress()
            defer { progress.done() }
            while true {
                let chunk: Data
                do {
                    chunk = try handle.read(upToCount: UtmpImport.recordSize * 1024) ?? Data()
                } catch {
                    FileHandle.standardError.write(Data("authsignal: cannot read \(file): \(error)\n".utf8))
                    throw ExitStatus.unavailable.exit
                }
                if chunk.isEmpty { break }
                pending.append(chunk)
                let whole = pending.count / UtmpImport.recordSize
                for index in 0..<whole {
                    let offset = pending.startIndex + index * UtmpImport.recordSize
                    guard let event = parser.read(pending[offset..<(offset + UtmpImport.recordSize)]) else { continue }
                    if let before, (event.time ?? before) >= before {
                        afterUntil += 1
                    } else {
                        try sender.send(event)
                    }
                }
                pending = Data(pending.suffix(from: pending.startIndex + whole * UtmpImport.recordSize))
                report(parser.takeProblems(), in: file)
                progress.update(parser.index, of: total, what: "records of \(file)")
            }
            parser.finish(trailingBytes: pending.count)
            report(parser.takeProblems(), in: file)
            try sender.finish()
            let read = parser.counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }
            var summary = "\(file) (\(format.rawValue)): \(read.joined(separator: ", "))"
            if parser.malformed > 0 { summary += ", \(parser.malformed) malformed" }
            summary += "; \(sender.stored) stored, \(sender.duplicates) imported before"
            if afterUntil > 0 { summary += ", \(afterUntil) after --until" }
            if sender.refused > 0 { summary += ", \(sender.refused) refused" }
            printOut(summary + "\n")
            return sender.refused
        }

        private func report(_ problems: [UtmpImport.Problem], in file: String) {
            for problem in problems {
                FileHandle.standardError.write(Data("authsignal: \(file): \(problem), skipped\n".utf8))
            }
        }
    }
}

/// Sends emits pipelined, at most ``window`` unanswered, and counts the answers: stored,
/// duplicates, refused (each refusal printed with its event's number).
private struct PipelinedSender {
    static let window = 128
    let daemon: DaemonConnection
    let file: String
    private(set) var stored = 0
    private(set) var duplicates = 0
    private(set) var refused = 0
    private var sent = 0
    private var answered = 0

    init(daemon: DaemonConnection, file: String) {
        self.daemon = daemon
        self.file = file
    }

    /// Sends `event`, first reading an answer when the window is full.
    mutating func send(_ event: AuthEvent) throws {
        if sent - answered >= Self.window { try readAnswer() }
        do {
            try daemon.send(.emit(event))
        } catch {
            throw fail(error)
        }
        sent += 1
    }

    /// Reads the answers still due.
    mutating func finish() throws {
        while answered < sent { try readAnswer() }
    }

    private mutating func readAnswer() throws {
        answered += 1
        do {
            let answer = try daemon.answer(EmitAnswer.self)
            if answer.duplicate { duplicates += 1 } else { stored += 1 }
        } catch ClientError.daemon(let code, let message) {
            refused += 1
            FileHandle.standardError.write(Data("authsignal: \(file): event \(answered): \(code): \(message)\n".utf8))
        } catch {
            throw fail(error)
        }
    }
}
