import ArgumentParser
import AuthSignalClient
import AuthSignalCore
import Foundation

struct Ping: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check that the daemon answers.")

    @OptionGroup var connection: Connection

    func run() throws {
        do {
            let answer = try connection.open().request(["op": .string("ping")])
            printOut("authsignald pid \(answer["pid"].text) speaks protocol \(answer["protocol"].text)\n")
        } catch {
            throw fail(error)
        }
    }
}
