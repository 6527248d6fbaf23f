import ArgumentParser
import AuthSignalClient
import AuthSignalProtocol
import AuthSignalRelease
import Foundation

/// `authsignal`: send auth events to authsignald, query and follow the audit log, verify it.
struct AuthSignalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "authsignal",
        abstract: "Send authentication events to authsignald and read its audit log.",
        discussion: """
            Exit status: 0 success (for query: records matched), 1 no records matched, 2 the daemon \
            refused the request as invalid, 3 daemon unreachable or unavailable, 4 forbidden, 5 verify \
            found tampering, 64 wrong usage (including a secret given on the command line). See docs/cli.md.
            """,
        version: AuthSignalRelease.version,
        subcommands: [
            Send.self, Query.self, Follow.self, Report.self, Last.self, Lastlog.self, Who.self, Lastb.self, Import.self,
            Verify.self,
            Stats.self, Ping.self, Hash.self, Pam.self, Verdicts.self, Alerts.self, Export.self, Evidence.self,
            Fleet.self,
        ])
}
