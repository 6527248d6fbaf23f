package import Logging

/// A swift-log handler that writes each log event to the journal as a structured entry:
/// `MESSAGE`, `PRIORITY`, `SYSLOG_IDENTIFIER`, `CODE_FILE`/`CODE_LINE`/`CODE_FUNC`, and each
/// metadata key as a field (`request-id` → `REQUEST_ID`).
package struct JournalLogHandler: LogHandler {
    /// The minimum level logged.
    package var logLevel: Logger.Level = .info
    /// Metadata added to every entry.
    package var metadata: Logger.Metadata = [:]
    private let identifier: String
    private let sender: JournalDatagramSender

    /// A handler writing as `identifier` (`SYSLOG_IDENTIFIER`) through `sender`.
    package init(identifier: String, sender: JournalDatagramSender = .shared) {
        self.identifier = identifier
        self.sender = sender
    }

    /// Metadata by key.
    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes one event, never waiting: what a stopped, frozen or absent journald cannot take at
    /// once is dropped and counted (``JournalDatagramSender/dropped``), so that no log line holds
    /// up the thread that logs it.
    package func log(event: LogEvent) {
        sender.send(Self.entry(for: event, identifier: identifier, metadata: metadata))
    }

    /// The journal entry for a log event (exposed for tests).
    package static func entry(for event: LogEvent, identifier: String, metadata: Logger.Metadata) -> JournalEntry {
        var entry = JournalEntry()
        entry.append(.message, "\(event.message)")
        entry.append(.priority, String(priority(event.level)))
        entry.append(.syslogIdentifier, identifier)
        entry.append(JournalFieldName(trusted: "CODE_FILE"), event.file)
        entry.append(JournalFieldName(trusted: "CODE_LINE"), String(event.line))
        entry.append(JournalFieldName(trusted: "CODE_FUNC"), event.function)
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        if let error = event.error { merged["error"] = "\(error)" }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            entry.append(JournalFieldName.sanitizing(key), "\(value)")
        }
        return entry
    }

    /// syslog priorities: 7 debug … 2 critical.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }
}
