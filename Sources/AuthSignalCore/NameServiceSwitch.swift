import Foundation

/// What `/etc/nsswitch.conf` says about where account look-ups go: only to sources on this host
/// (`files`, `systemd`, …), which answer at once, or also to ones that may wait on the network or
/// another daemon (`sss`, `ldap`, `winbind`, …), which can take seconds.
package enum NameServiceSwitch {
    /// Sources that answer from this host without waiting on anyone.
    static let localSources: Set<String> = ["files", "compat", "systemd", "db", "altfiles", "cache"]

    /// Whether a look-up in `database` (`passwd`, `group`) may wait on a source that is not local,
    /// as the configuration `text` names them; with no line for it, glibc's default (`files`).
    package static func mayBlock(_ database: String, configuration text: String) -> Bool {
        for line in text.split(separator: "\n") {
            let content = line.prefix { $0 != "#" }
            guard let colon = content.firstIndex(of: ":"),
                content[..<colon].trimmingCharacters(in: .whitespaces) == database
            else { continue }
            // Actions in brackets (`[NOTFOUND=return]`) are not sources.
            let sources = content[content.index(after: colon)...].split(whereSeparator: \.isWhitespace)
                .filter { !$0.hasPrefix("[") && !$0.hasSuffix("]") }
            return sources.contains { !localSources.contains(String($0)) }
        }
        return false
    }

    /// ``mayBlock(_:configuration:)`` for this host's `/etc/nsswitch.conf` (no file: glibc's
    /// defaults, all local).
    package static func mayBlock(_ database: String) -> Bool {
        guard let text = try? String(contentsOfFile: "/etc/nsswitch.conf", encoding: .utf8) else { return false }
        return mayBlock(database, configuration: text)
    }
}
