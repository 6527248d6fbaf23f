package import AuthSignalProtocol
package import Foundation
import Systemd

/// The PAM hook's work (docs/pam.md): the event pam_exec's environment describes, delivered to
/// the daemon within a hard time bound, else left in the spool; every failure reported to the
/// journal. A login is never held up longer than the bound (plus the spool's one fsync).
package struct PAMHook {
    /// What happened to an event.
    package enum Outcome: Equatable {
        /// The daemon stored it as record `seq`.
        case stored(seq: Int64)
        /// The daemon could not be reached in time (why); the event is in the spool at `path`.
        case spooled(path: String, reason: String)
        /// The daemon refused it (code and message): spooling would not change its answer.
        case refused(String)
        /// Neither delivered nor spooled (why).
        case lost(String)

        /// Whether the daemon stored the event.
        package var isStored: Bool { if case .stored = self { true } else { false } }
    }

    /// The daemon's socket.
    package let socketPath: String
    /// The spool directory.
    package let spoolDirectory: String
    /// How long connecting, sending and waiting for the acknowledgement may take together.
    package let timeout: Duration

    /// A hook delivering to `socketPath` within `timeout`, spooling into `spoolDirectory`.
    package init(socketPath: String, spoolDirectory: String, timeout: Duration) {
        self.socketPath = socketPath
        self.spoolDirectory = spoolDirectory
        self.timeout = timeout
    }

    /// The event pam_exec's `environment` describes, or `nil` for a `PAM_TYPE` that records
    /// nothing. It carries its idempotency id and time from the start, so that an event that
    /// reached a slow daemon and was also spooled is stored once, with the time it happened.
    package static func event(environment: [String: String], id: String, time: Date) -> AuthEvent? {
        let signal: AuthSignal
        switch environment["PAM_TYPE"] {
        case "auth": signal = .userLoginFailed
        case "open_session": signal = .userLoggedIn
        case "close_session": signal = .userLoggedOut
        default: return nil
        }
        var truncated: [JSONValue] = []
        // Each value is cut at its bound (and named in `truncated`), so that a name of any length
        // is still recorded instead of making the request too large.
        func value(_ name: String, _ field: String, limit: Int = maximumItemBytes) -> String? {
            guard let value = environment[name], !value.isEmpty else { return nil }
            let (kept, cut) = bounded(value, limit: limit)
            if cut { truncated.append(.string(field)) }
            return kept
        }
        let user = value("PAM_USER", "user", limit: maximumUserBytes)
        var details: JSONObject = [:]
        if let service = value("PAM_SERVICE", "service") { details["service"] = .string(service) }
        if let host = value("PAM_RHOST", "remote_addr") { details["remote_addr"] = .string(host) }
        if let tty = value("PAM_TTY", "tty") { details["tty"] = .string(tty) }
        if let ruser = value("PAM_RUSER", "remote_user") { details["remote_user"] = .string(ruser) }
        if signal != .userLoginFailed, let session = pairingKey(environment: environment) {
            details["pairing"] = .string(bounded(session, limit: 4 * maximumItemBytes).0)
        }
        if !truncated.isEmpty { details["truncated"] = .array(truncated) }
        let sender = environment["PAM_SERVICE"].flatMap { $0.isEmpty ? nil : bounded($0, limit: 256).0 }
        // The time is sent with microseconds, as the spool file and the record keep it.
        return AuthEvent(
            signal: signal, sender: sender ?? "pam", user: user, request: details.isEmpty ? nil : details,
            credentials: nil, time: RFC3339.parse(RFC3339.format(time)), id: id)
    }

    /// The most bytes of `PAM_USER` an event carries (pam_authsignal.so's bound too).
    package static let maximumUserBytes = 1024
    /// The most bytes of each other PAM item an event carries.
    package static let maximumItemBytes = 1024

    /// `value` cut to at most `limit` bytes of UTF-8 at a scalar boundary, and whether it was cut.
    static func bounded(_ value: String, limit: Int) -> (String, Bool) {
        guard value.utf8.count > limit else { return (value, false) }
        var used = 0
        var end = value.unicodeScalars.startIndex
        for scalar in value.unicodeScalars {
            let width = UTF8.width(scalar)
            guard used + width <= limit else { break }
            used += width
            end = value.unicodeScalars.index(after: end)
        }
        return (String(value.unicodeScalars[..<end]), true)
    }

    /// What identifies one PAM session at both of its ends, so that its logout is paired with its
    /// login for certain (docs/pam.md): the boot, the PAM application's process (pam_exec's parent;
    /// `open_session` and `close_session` of one session run in the same one), the service and the
    /// tty. `nil` when the boot id cannot be read.
    static func pairingKey(
        environment: [String: String], parent: pid_t = getppid(),
        bootIDPath: String = "/proc/sys/kernel/random/boot_id"
    ) -> String? {
        guard let data = FileManager.default.contents(atPath: bootIDPath) else { return nil }
        let boot = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !boot.isEmpty else { return nil }
        return [boot, String(parent), environment["PAM_SERVICE"] ?? "", environment["PAM_TTY"] ?? ""]
            .joined(separator: "/")
    }

    /// The login notice for `user` logging in from `remoteAddr` (`pam --notice`, replacing
    /// showfailed), as the daemon answers by `deadline`: the last login, the failed attempts
    /// since and their sources, a source new to the account, and the counts over `periodDays`;
    /// nothing at all when it cannot answer in time, so the notice never holds a login up.
    package func notice(
        user: String, remoteAddr: String?, periodDays: Int64 = 30, deadline: ContinuousClock.Instant
    ) -> [String] {
        do {
            let notice = try DaemonConnection(path: socketPath, deadline: deadline).request(
                .notice(user: user, remoteAddr: remoteAddr, periodDays: periodDays), as: LoginNotice.self)
            return Self.lines(notice)
        } catch {
            return []
        }
    }

    /// The notice's lines, values escaped for the terminal:
    /// - `Last login: TIME from HOST via SERVICE`;
    /// - `N failed login attempts since the last login (last from HOST at TIME).`, and their
    ///   sources, `By source: 5 from 203.0.113.0/24, 1 from 192.0.2.0/24.`;
    /// - `This is the first login to this account from 203.0.113.0/24.`;
    /// - `In the last 30 days: 12 logins, 3 failed login attempts.`
    package static func lines(_ notice: LoginNotice) -> [String] {
        var lines: [String] = []
        if let account = notice.account {
            if let login = account.lastLogin {
                lines.append(
                    "Last login: \(noticeTime(login.time))"
                        + (login.from.map { " from " + DisplaySafe.escaped($0) } ?? "")
                        + (login.service.map { " via " + DisplaySafe.escaped($0) } ?? ""))
            }
            if account.failuresSinceLogin > 0 {
                let count = account.failuresSinceLogin
                let last = account.lastFailure.map { failure in
                    " (last" + (failure.from.map { " from " + DisplaySafe.escaped($0) } ?? "") + " at "
                        + noticeTime(failure.time) + ")"
                }
                lines.append(
                    "\(count) failed login attempt\(count == 1 ? "" : "s") since the "
                        + (account.lastLogin == nil ? "log began" : "last login") + (last ?? "") + ".")
            }
        }
        if !notice.failuresBySource.isEmpty {
            var parts = notice.failuresBySource.map { "\($0.count) from \(DisplaySafe.escaped($0.source))" }
            let others = notice.failureSources - Int64(notice.failuresBySource.count)
            let shown = notice.failuresBySource.reduce(0) { $0 + $1.count }
            let total = max(notice.account?.failuresSinceLogin ?? shown, shown)
            if others > 0 {
                parts.append("\(total - shown) from \(others) other source\(others == 1 ? "" : "s")")
            }
            lines.append("By source: " + parts.joined(separator: ", ") + ".")
        }
        if notice.firstFromSource, let source = notice.source {
            lines.append("This is the first login to this account from \(DisplaySafe.escaped(source)).")
        }
        if notice.loginsInPeriod > 0 || notice.failuresInPeriod > 0 {
            let logins = notice.loginsInPeriod
            let failures = notice.failuresInPeriod
            lines.append(
                "In the last \(notice.periodDays) days: \(logins) login\(logins == 1 ? "" : "s"), "
                    + "\(failures) failed login attempt\(failures == 1 ? "" : "s").")
        }
        return lines
    }

    private static func noticeTime(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "EEE MMM d HH:mm:ss zzz yyyy"
        return formatter.string(from: date)
    }

    /// Delivers `event` (from ``event(environment:id:time:)``) by `deadline`, else spools it;
    /// reports anything but success to the journal.
    package func deliver(_ event: AuthEvent, deadline: ContinuousClock.Instant) -> Outcome {
        let outcome = attempt(event, deadline: deadline)
        if !outcome.isStored { report(outcome, event: event) }
        return outcome
    }

    private func attempt(_ event: AuthEvent, deadline: ContinuousClock.Instant) -> Outcome {
        let request = ProtocolRequest.emit(event)
        let reason: String
        do {
            let answer = try DaemonConnection(path: socketPath, deadline: deadline).request(
                request, as: EmitAnswer.self)
            return .stored(seq: answer.seq)
        } catch ClientError.daemon(let code, let message) where code != ErrorCode.unavailable.rawValue {
            return .refused("\(code): \(message)")
        } catch {
            reason = "\(error)"
        }
        guard let id = event.id, let time = event.time else {
            return .lost("\(reason); the request has no id and time to spool it by")
        }
        do {
            let path = try SpoolWriter(directory: spoolDirectory).write(request.line, time: time, id: id)
            return .spooled(path: path, reason: reason)
        } catch {
            return .lost("\(reason); not spooled: \(error)")
        }
    }

    /// One journal entry (and a line on stderr) for an event not stored now: why, and whether it
    /// waits in the spool. Never the user, which may be a mistyped password. The entry is sent
    /// without waiting: a stopped or frozen journald must not hold the login past the hook's bound.
    private func report(_ outcome: Outcome, event: AuthEvent) {
        let what = "\(event.signal.rawValue) from \(event.sender)"
        let message: String
        let result: String
        let priority: String
        switch outcome {
        case .stored: return
        case .spooled(let path, let reason):
            (message, result, priority) = ("\(what) spooled as \(path) for authsignald: \(reason)", "spooled", "4")
        case .refused(let reason):
            (message, result, priority) = ("\(what) refused by authsignald: \(reason)", "refused", "3")
        case .lost(let reason):
            (message, result, priority) = ("\(what) lost: \(reason)", "lost", "2")
        }
        FileHandle.standardError.write(Data("authsignal pam: \(message)\n".utf8))
        var entry = JournalEntry()
        entry.append(.message, "authsignal pam: \(message)")
        entry.append(.priority, priority)
        entry.append(.syslogIdentifier, "authsignal-pam")
        entry.append(.hookResult, result)
        if let id = event.id { entry.append(.hookEventID, id) }
        JournalDatagramSender.shared.send(entry)
    }
}

extension JournalFieldName {
    /// What happened to an event the hook could not deliver: `spooled`, `refused` or `lost`.
    fileprivate static let hookResult = JournalFieldName(trusted: "AUTHSIGNAL_HOOK_RESULT")
    /// The idempotency id of that event (the record's `id` once stored).
    fileprivate static let hookEventID = JournalFieldName(trusted: "AUTHSIGNAL_HOOK_ID")
}
