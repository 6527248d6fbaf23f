import ArgumentParser
import AuthSignalClient
import AuthSignalCore
import Foundation

extension AuthSignalCommand {
    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the daemon's counters (or, with --database, the totals of an audit log file).")

        @OptionGroup var connection: Connection
        @Option(help: "Read this audit log file read-only, without the daemon.") var database: String?
        @Flag(help: "Print the daemon's JSON answer.") var json = false

        func run() async throws {
            let answer: JSONObject
            if let database {
                do {
                    answer = try await AuditLogFile.stats(database: database).fields
                } catch {
                    throw failReading(error)
                }
            } else {
                do {
                    // The daemon's whole final line, as it sent it.
                    answer = try connection.open().request(.stats, as: StatsAnswer.self).fields.merging(
                        ["ok": .bool(true)]
                    ) { $1 }
                } catch {
                    throw fail(error)
                }
            }
            if json {
                printOut(String(decoding: CanonicalJSON.encode(answer), as: UTF8.self) + "\n")
                return
            }
            func flatten(_ object: JSONObject, prefix: String) {
                for key in object.keys.sorted() where key != "ok" {
                    if case .object(let inner)? = object[key] {
                        flatten(inner, prefix: prefix + key + ".")
                    } else if let value = object[key] {
                        let text = value.stringValue ?? String(decoding: CanonicalJSON.encode(value), as: UTF8.self)
                        printOut("\(prefix)\(key): \(text)\n")
                    }
                }
            }
            flatten(answer, prefix: "")
        }
    }
}
