import ArgumentParser
import AuthSignalClient
import AuthSignalProtocol
import Foundation

extension AuthSignalCommand {
    struct Lastlog: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per account: last login, last failed login, and failed logins since the last login.",
            discussion: """
                Accounts of this host and names only seen in events (LDAP or sssd users, and names \
                that are no account, shown keyed-hashed). With --all, local accounts that never \
                logged in are listed too. See docs/sessions.md.
                """)

        @OptionGroup var source: ActivitySource
        @Option(help: "Only this account.") var user: String?
        @Flag(name: .customLong("failed-only"), help: "Only accounts with failed logins since their last login.")
        var failedOnly = false
        @Flag(help: "Also list this host's accounts that never logged in.") var all = false
        @Option(help: "table, json, jsonl or csv.") var format = OutputFormat.table

        func run() async throws {
            var accounts = try await source.accounts(AccountFilter(user: user, failedOnly: failedOnly))
            if all && !failedOnly {
                let seen = Set(accounts.map(\.user))
                for name in Self.localAccounts() where !seen.contains(name) && (user.map { $0 == name } ?? true) {
                    accounts.append(
                        WireAccount(user: name, lastLogin: nil, lastFailure: nil, failuresSinceLogin: 0, failures: 0))
                }
            }
            // Names first, keyed hashes (names that are no account) after them.
            let order = { (account: WireAccount) in (HashedName.isHashed(account.user) ? 1 : 0, account.user) }
            accounts.sort { order($0) < order($1) }
            let printer = ActivityPrinter(
                format: format, layout: .accounts, terminal: isatty(1) == 1, write: printOut)
            for account in accounts { printer.add(account) }
            printer.finish()
            if accounts.isEmpty {
                if format == .table { FileHandle.standardError.write(Data("no accounts matched\n".utf8)) }
                throw ExitStatus.nothing.exit
            }
        }

        /// This host's accounts, from the name service.
        static func localAccounts() -> [String] {
            var names: [String] = []
            setpwent()
            while let entry = getpwent() { names.append(String(cString: entry.pointee.pw_name)) }
            endpwent()
            return names
        }
    }
}
