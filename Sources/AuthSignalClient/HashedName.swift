import AuthSignalCore
import AuthSignalProtocol

/// User names the daemon stored keyed-hashed (failed logins for names that are no account), as
/// tables and reports show them: `#` and the hash's first eight hex digits, explained by a legend.
/// JSON and CSV keep the full `hmac-sha256:<hex>`.
package enum HashedName {
    /// Whether `name` is a keyed hash rather than a name.
    package static func isHashed(_ name: String) -> Bool { name.hasPrefix(Redactor.keyedHashPrefix) }

    /// `#1e95306a` for a keyed hash; any other name as it is.
    package static func abbreviated(_ name: String) -> String {
        guard isHashed(name) else { return name }
        return "#" + name.dropFirst(Redactor.keyedHashPrefix.count).prefix(8)
    }

    /// The line under a table or report that showed abbreviated hashes.
    package static let legend =
        "#…: a name that is no account, stored keyed-hashed (full in --format json or csv; "
        + "`authsignal hash` computes one, `--user NAME` finds one for those allowed to)"
}
