import ArgumentParser
import AuthSignalClient
import AuthSignalCore
import Foundation

extension AuthSignalCommand {
    struct Hash: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read a value from stdin and print the keyed hash the daemon would store for it.",
            discussion: "Answers \"did this password appear?\": query for the printed hmac-sha256 value.")

        @Option(name: .customLong("key-file"), help: "The daemon's redaction key.")
        var keyFile = "/var/lib/authsignald/redaction.key"

        func run() throws {
            let value = readLine(strippingNewline: true) ?? ""
            let key: RedactionKey
            do {
                key = try RedactionKey.load(at: keyFile)
            } catch {
                throw fail(error)
            }
            printOut(Redactor(mode: .hmac, key: key).keyedHash(value) + "\n")
        }
    }
}
