import ArgumentParser
import AuthSignalClient
import AuthSignalCore
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
                guard let data = FileManager.default.contents(atPath: file) else {
                    FileHandle.standardError.write(Data("authsignal: cannot read \(file)\n".utf8))
                    throw ExitStatus.unavailable.exit
                }
                let format = kind.flatMap(UtmpImport.Kind.init(rawValue:)) ?? UtmpImport.Kind(path: file)!
                let parsed = UtmpImport(data, kind: format)
                for problem in parsed.problems {
                    FileHandle.standardError.write(Data("authsignal: \(file): \(problem), skipped\n".utf8))
                }
                let events = parsed.events.filter { event in before.map { (event.time ?? $0) < $0 } ?? true }
                let (stored, duplicates, failures) = try send(events, to: daemon, file: file)
                refused += failures
                let read = parsed.counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }
                printOut(
                    "\(file) (\(format.rawValue)): \(read.joined(separator: ", "))"
                        + (parsed.problems.isEmpty ? "" : ", \(parsed.problems.count) malformed")
                        + "; \(stored) stored, \(duplicates) imported before"
                        + (events.count < parsed.events.count
                            ? ", \(parsed.events.count - events.count) after --until" : "")
                        + (failures > 0 ? ", \(failures) refused" : "") + "\n")
            }
            if refused > 0 { throw ExitStatus.unavailable.exit }
        }

        /// Sends `events` pipelined (128 in flight); returns how many were stored, were duplicates
        /// and were refused (each refusal is printed).
        private func send(_ events: [AuthEvent], to daemon: DaemonConnection, file: String) throws -> (
            stored: Int, duplicates: Int, refused: Int
        ) {
            let progress = Progress()
            defer { progress.done() }
            var (stored, duplicates, refused, sent) = (0, 0, 0, 0)
            do {
                for index in events.indices {
                    while sent < events.count, sent - index < 128 {
                        try daemon.send(.emit(events[sent]))
                        sent += 1
                    }
                    progress.update(index + 1, of: events.count, what: "events from \(file)")
                    do {
                        let answer = try daemon.answer(EmitAnswer.self)
                        if answer.duplicate { duplicates += 1 } else { stored += 1 }
                    } catch ClientError.daemon(let code, let message) {
                        refused += 1
                        FileHandle.standardError.write(
                            Data("authsignal: \(file): event \(index + 1): \(code): \(message)\n".utf8))
                    }
                }
            } catch {
                throw fail(error)
            }
            return (stored, duplicates, refused)
        }
    }
}
