import ArgumentParser
import AuthSignalClient
import AuthSignalCore
import AuthSignalProtocol
import Foundation

extension AuthSignalCommand {
    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the daemon's counters (or, with --database, the totals of an audit log file).",
            discussion: """
                --format prometheus prints them in Prometheus's text format (docs/metrics.md); with --output \
                the file is replaced whole, as node_exporter's textfile collector needs. When the daemon does \
                not answer, that output says authsignal_up 0 (and the exit status is 3).
                """)

        enum Format: String, ExpressibleByArgument, CaseIterable {
            case text, json, prometheus
        }

        @OptionGroup var connection: Connection
        @Option(help: "Read this audit log file read-only, without the daemon.") var database: String?
        @Option(help: "Output format: text, json (the daemon's answer) or prometheus.") var format: Format = .text
        @Flag(help: "The same as --format json.") var json = false
        @Option(help: "Write to this file (replaced atomically) instead of standard output.") var output: String?

        func run() async throws {
            let format = json ? .json : format
            let answer: StatsAnswer
            do {
                if let database {
                    answer = try await AuditLogFile.stats(database: database)
                } else {
                    answer = try connection.open().request(.stats, as: StatsAnswer.self)
                }
            } catch {
                let exit = database == nil ? fail(error) : failReading(error)
                if format == .prometheus, database == nil { try emit(PrometheusExposition.down()) }
                throw exit
            }
            switch format {
            case .prometheus: try emit(PrometheusExposition.render(answer))
            case .json:
                // The daemon's whole final line, as it sent it.
                var fields = answer.fields
                if database == nil { fields["ok"] = .bool(true) }
                try emit(String(decoding: CanonicalJSON.encode(fields), as: UTF8.self) + "\n")
            case .text: try emit(Self.text(answer.fields))
            }
        }

        private func emit(_ text: String) throws {
            guard let output else { return printOut(text) }
            do {
                try ReplacedFile.write(text, to: output)
            } catch {
                throw fail(error)
            }
        }

        /// One `key.path: value` line per field, keys sorted.
        private static func text(_ fields: JSONObject) -> String {
            var lines = ""
            func flatten(_ object: JSONObject, prefix: String) {
                for key in object.keys.sorted() {
                    if case .object(let inner)? = object[key] {
                        flatten(inner, prefix: prefix + key + ".")
                    } else if let value = object[key] {
                        let text = value.stringValue ?? String(decoding: CanonicalJSON.encode(value), as: UTF8.self)
                        lines += "\(prefix)\(key): \(text)\n"
                    }
                }
            }
            flatten(fields, prefix: "")
            return lines
        }
    }
}
