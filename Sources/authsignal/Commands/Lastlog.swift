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
                logged in are listed too. --inactive 90d lists the accounts with no login for that long, \
                those that never logged in included: PCI DSS 8.2.6's test. See docs/sessions.md.                 With --journal-directory, a collector's files: a row per account and host, the newest                 login first (docs/fleet.md).
                """)

        @OptionGroup var source: ActivitySource
        @Option(help: "Only this account.") var user: String?
        @Flag(name: .customLong("failed-only"), help: "Only accounts with failed logins since their last login.")
        var failedOnly = false
        @Flag(help: "Also list this host's accounts that never logged in (with --inactive: system accounts too).")
        var all = false
        @Option(
            help: ArgumentHelp(
                "Only accounts with no login for this long (90d, 12w), never-logged-in ones included.",
                valueName: "span"))
        var inactive: String?
        @Option(help: "table, json, jsonl or csv.") var format = OutputFormat.table

        func validate() throws {
            if inactive != nil && failedOnly {
                throw ValidationError("--inactive and --failed-only do not go together")
            }
            if all && source.journalOptions.directory != nil {
                throw ValidationError("--all adds this host's accounts, which a collector's files are not")
            }
        }

        func run() async throws {
            if let inactive { return try await listInactive(span: inactive) }
            var accounts = try await source.accounts(AccountFilter(user: user, failedOnly: failedOnly))
            if all && !failedOnly {
                let seen = Set(accounts.map(\.user))
                for name in Self.localAccounts() where !seen.contains(name) && (user.map { $0 == name } ?? true) {
                    accounts.append(
                        WireAccount(user: name, lastLogin: nil, lastFailure: nil, failuresSinceLogin: 0, failures: 0))
                }
            }
            // Names first, keyed hashes (names that are no account) after them; an account read
            // from many hosts' journals has a row per host, its newest login first.
            let order = { (account: WireAccount) in
                (
                    HashedName.isHashed(account.user) ? 1 : 0, account.user,
                    -(account.lastLogin?.time.timeIntervalSince1970 ?? -.infinity), account.host ?? ""
                )
            }
            accounts.sort { order($0) < order($1) }
            let printer = ActivityPrinter(
                format: format, layout: source.layout(.accounts), terminal: isatty(1) == 1, write: printOut)
            for account in accounts { printer.add(account) }
            printer.finish()
            if accounts.isEmpty {
                if format == .table { FileHandle.standardError.write(Data("no accounts matched\n".utf8)) }
                throw ExitStatus.nothing.exit
            }
        }

        /// This host's accounts, from the name service.
        static func localAccounts() -> [String] { LocalAccount.all().map(\.name) }

        /// `--inactive SPAN`: the accounts whose last trusted login is older than SPAN or that never
        /// logged in: this host's user accounts (uid 0, and from `UID_MIN` up with a shell that
        /// takes logins; `--all`: every one) and the names the log saw log in (LDAP or sssd
        /// users), oldest login first.
        private func listInactive(span: String) async throws {
            let now = Date()
            guard let cutoff = TimeExpression.parse("-" + span, now: now), cutoff < now else {
                throw ValidationError("--inactive: cannot read '\(span)' as a span such as 90d or 12w")
            }
            // Read from many hosts' journals, an account's newest login comes first: it is the one
            // kept, with its host.
            let known = try await source.accounts(AccountFilter(user: user))
            var byName = Dictionary(known.map { ($0.user, $0) }, uniquingKeysWith: { first, _ in first })
            let minimum = LocalAccount.userUIDMinimum()
            // A collector's files are other hosts': this host's accounts are not theirs.
            let local = source.journalOptions.directory == nil ? LocalAccount.all() : []
            for account in local
            where all || account.uid == 0 || (account.uid >= minimum && !account.refusesLogins) {
                guard user.map({ $0 == account.name }) ?? true, byName[account.name] == nil else { continue }
                byName[account.name] = WireAccount(
                    user: account.name, lastLogin: nil, lastFailure: nil, failuresSinceLogin: 0, failures: 0)
            }
            // A keyed hash is a name that is no account: nothing to disable.
            let inactive = byName.values.filter {
                !HashedName.isHashed($0.user) && ($0.lastLogin?.time ?? .distantPast) < cutoff
            }
            .sorted { ($0.lastLogin?.time ?? .distantPast, $0.user) < ($1.lastLogin?.time ?? .distantPast, $1.user) }
            let printer = ActivityPrinter(
                format: format, layout: source.layout(.accounts), terminal: isatty(1) == 1, write: printOut)
            for account in inactive { printer.add(account) }
            printer.finish()
            if format == .table {
                let begins = try await source.logBegins()
                printOut(
                    "no trusted login since \(RecordPrinter.localTime(cutoff)); \"never logged in\": not since the "
                        + "audit log began (\(begins.map(RecordPrinter.localTime) ?? "no record yet"))\n")
            }
            if inactive.isEmpty { throw ExitStatus.nothing.exit }
        }
    }
}
