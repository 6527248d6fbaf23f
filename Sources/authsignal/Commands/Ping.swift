import ArgumentParser
import AuthSignalClient
import AuthSignalProtocol
import Foundation

extension AuthSignalCommand {
    struct Ping: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check that the daemon answers.")

        @OptionGroup var connection: Connection

        func run() throws {
            do {
                let answer = try connection.open().request(.ping, as: PingAnswer.self)
                printOut("authsignald pid \(answer.pid) speaks protocol \(answer.protocolVersion)\n")
            } catch {
                throw fail(error)
            }
        }
    }
}
