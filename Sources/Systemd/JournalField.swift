import Glibc

/// A journal field name: `^[A-Z][A-Z0-9_]{0,63}$` and not starting with `_` (those are trusted
/// fields only journald sets).
package struct JournalFieldName: Hashable, Sendable, CustomStringConvertible {
    /// The name.
    package let name: String

    /// A validated name.
    /// - Throws: ``JournalError/invalidFieldName(_:)`` for anything journald would reject or
    ///   silently drop: an invalid name is a programming error, which tests catch.
    package init(_ name: String) throws(JournalError) {
        guard Self.isValid(name) else { throw .invalidFieldName(name) }
        self.name = name
    }

    /// A name written in the source, checked by the tests that send it rather than at run time.
    package init(trusted name: StaticString) {
        self.name = "\(name)"
    }

    /// Whether journald accepts `name` as a field name.
    package static func isValid(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= 64, (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(first)
        else { return false }
        return bytes.allSatisfy { byte in
            (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "_")
        }
    }

    /// A valid field name made from any text (such as a swift-log metadata key): upper-cased,
    /// other characters replaced by `_`, prefixed when it does not start with a letter, at most
    /// 64 characters.
    package static func sanitizing(_ text: String, prefix: String = "F_") -> JournalFieldName {
        var bytes = text.uppercased().utf8.map { byte -> UInt8 in
            let allowed =
                (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            return allowed ? byte : UInt8(ascii: "_")
        }
        if bytes.first.map({ !(UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }) ?? true {
            bytes = Array(prefix.utf8) + bytes
        }
        let name = String(decoding: bytes.prefix(64), as: UTF8.self)
        return JournalFieldName(unchecked: name)
    }

    private init(unchecked name: String) {
        self.name = name
    }

    /// The name.
    package var description: String { name }
}

/// Why a journal operation failed.
package enum JournalError: Error, Equatable, CustomStringConvertible {
    /// A field name journald would reject.
    case invalidFieldName(String)
    /// No journald listens: the entry was not stored.
    case unavailable(String)
    /// journald refused the entry (`sd_journal_sendv` failed with this errno).
    case sendFailed(Int32)
    /// Opening or reading the journal failed with this errno.
    case readFailed(Int32)
    /// A journal file shrank while it was read (journald rotated or vacuumed it): what was read
    /// since cannot be trusted.
    case fileShrank

    /// A message for people.
    package var description: String {
        switch self {
        case .invalidFieldName(let name): "invalid journal field name \"\(name)\""
        case .unavailable(let reason): "journal unavailable: \(reason)"
        case .sendFailed(let code): "sd_journal_sendv failed: \(String(cString: strerror(code)))"
        case .readFailed(EMFILE):
            "reading the journal failed: \(String(cString: strerror(EMFILE))) (raise the hard limit on open files, "
                + "ulimit -Hn, or LimitNOFILE= for a service)"
        case .readFailed(let code): "reading the journal failed: \(String(cString: strerror(code)))"
        case .fileShrank:
            "a journal file shrank while it was read (journald rotated or vacuumed it), so the answer could be "
                + "incomplete: run the command again"
        }
    }
}

/// Fields journald defines (systemd.journal-fields(7)) that our writers and readers use.
extension JournalFieldName {
    package static let message = JournalFieldName(trusted: "MESSAGE")
    package static let messageID = JournalFieldName(trusted: "MESSAGE_ID")
    package static let priority = JournalFieldName(trusted: "PRIORITY")
    package static let syslogIdentifier = JournalFieldName(trusted: "SYSLOG_IDENTIFIER")
    /// Stamped by journald: the writing host's name.
    package static let hostname = JournalFieldName(trusted: "_HOSTNAME")
    /// Stamped by journald from the writer's cgroup.
    package static let systemdUnit = JournalFieldName(trusted: "_SYSTEMD_UNIT")
    /// Stamped by journald from the writer's credentials.
    package static let uid = JournalFieldName(trusted: "_UID")
}
