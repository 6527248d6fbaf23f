import ArgumentParser
import AuthSignalClient
import AuthSignalCore
import AuthSignalProtocol
import Foundation

extension AuthSignalCommand {
    struct Hash: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read a value from stdin and print the keyed hash the daemon stores for it.",
            discussion: """
                Answers "did this password appear?" and "who is #1e95306a?": query for the printed \
                hmac-sha256 value. Asks the daemon ([Access] HashUsers/HashGroups, root by default; each \
                look-up rate-limited and logged), or with --key-file computes it from the key file. \
                Each sender's events are hashed with a key of their own: the default is root's, which \
                the PAM hook sends as; --sender-uid names another sender.
                """)

        @OptionGroup var connection: Connection
        @Option(name: .customLong("key-file"), help: "Compute with this redaction key instead of asking the daemon.")
        var keyFile: String?
        @Option(help: "The hash as stored in the events of this sending uid (default: 0, root's).")
        var senderUID: UInt32 = 0

        func run() throws {
            // From stdin only: the value may be a password, which argv would show to everyone.
            let value = readLine(strippingNewline: true) ?? ""
            if let keyFile {
                let key: RedactionKey
                do {
                    key = try RedactionKey.load(at: keyFile)
                } catch {
                    throw fail(error)
                }
                printOut(Redactor(mode: .hmac, key: key).keyedHash(value, senderUID: senderUID) + "\n")
                return
            }
            do {
                let request = ProtocolRequest.hash(value: value, senderUID: senderUID == 0 ? nil : senderUID)
                printOut(try connection.open().request(request, as: HashAnswer.self).hash + "\n")
            } catch {
                throw fail(error)
            }
        }
    }
}
