import ArgumentParser
import AuthSignalClient
import AuthSignalCore
import AuthSignalProtocol
import Foundation

extension AuthSignalCommand {
    struct Pam: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "PAM hook for pam_exec.so: reports the PAM event to authsignald (docs/pam.md).",
            discussion: """
                Maps PAM_TYPE auth (a failed authentication, when placed as in etc/pam.d/authsignal) to \
                user_login_failed, open_session to user_logged_in and close_session to user_logged_out; \
                sender is PAM_SERVICE. It never reads the password, even with expose_authtok. It finishes \
                within --timeout whatever the daemon does: an event not acknowledged by then is left in the \
                spool, which the daemon drains when it can, and the failure is reported to the journal. By \
                default it always exits 0, so a stopped daemon cannot lock anyone out; --required makes an \
                event not stored now fail the PAM stack.
                """)

        @OptionGroup var connection: Connection
        @Flag(help: "Exit non-zero when the event is not stored now (spooled, refused or lost).") var required = false
        @Option(help: "How long connecting, sending and waiting for the acknowledgement may take (500ms, 2s).")
        var timeout = HookTimeout(duration: .milliseconds(500))
        @Option(
            help:
                "Where to leave events the daemon did not take (default: $AUTHSIGNAL_SPOOL, else \(Spool.defaultDirectory))."
        )
        var spool: String?
        @Flag(
            help: ArgumentHelp(
                "At open_session, first print the last login, the failed attempts since by source, a new source, and the period's counts (pam_exec's stdout option).",
                discussion: "Prints nothing if the daemon does not answer within --notice-timeout."))
        var notice = false
        @Option(name: .customLong("notice-timeout"), help: "How long the notice may take; then it is skipped.")
        var noticeTimeout = HookTimeout(duration: .milliseconds(300))
        @Option(
            name: .customLong("notice-days"), help: "The period the notice counts logins and failures over, in days.")
        var noticeDays = 30
        @Flag(
            name: .customLong("no-event"),
            help: "With --notice: print the notice only, and leave the event to pam_authsignal.so.")
        var noEvent = false

        func validate() throws {
            if noEvent, !notice { throw ValidationError("--no-event prints the notice only: give --notice too") }
            if !(1...3660).contains(noticeDays) { throw ValidationError("--notice-days must be from 1 to 3660") }
        }

        func run() throws {
            let deadline = ContinuousClock.now + timeout.duration
            // pam_exec's expose_authtok writes the password to stdin. It is drained and wiped, never
            // kept or forwarded (closing stdin instead could kill the PAM application with SIGPIPE).
            Self.discardStandardInput(until: deadline)
            let environment = ProcessInfo.processInfo.environment
            guard let event = PAMHook.event(environment: environment, id: "pam-" + UUID().uuidString, time: Date())
            else { return }
            let hook = PAMHook(
                socketPath: DaemonConnection.socketPath(connection.socket),
                spoolDirectory: SpoolWriter.directory(spool),
                timeout: timeout.duration)
            // Before this login is stored, so that "last login" is the one before it.
            if notice, event.signal == .userLoggedIn, let user = event.user {
                let lines = hook.notice(
                    user: user, remoteAddr: event.request?["remote_addr"]?.stringValue, periodDays: Int64(noticeDays),
                    deadline: ContinuousClock.now + noticeTimeout.duration)
                if !lines.isEmpty { printOut(lines.joined(separator: "\n") + "\n") }
            }
            if noEvent { return }
            // The event's own bound starts after the notice: the two bounds add up.
            let deliverBy = notice ? max(deadline, ContinuousClock.now + timeout.duration) : deadline
            if !hook.deliver(event, deadline: deliverBy).isStored, required { throw ExitStatus.nothing.exit }
        }

        /// Reads and wipes stdin until its end or `deadline` (a writer that never closes it must not
        /// hold the login).
        static func discardStandardInput(until deadline: ContinuousClock.Instant) {
            guard isatty(0) == 0 else { return }
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let left = deadline - ContinuousClock.now
                guard left > .zero else { break }
                var descriptor = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
                guard poll(&descriptor, 1, left.pollTimeout) > 0 else { break }
                if read(0, &buffer, buffer.count) <= 0 { break }
            }
            buffer.withUnsafeMutableBytes { raw in
                _ = memset(raw.baseAddress!, 0, raw.count)
            }
        }
    }
}

/// A hook time bound: `500ms`, `2s`, `1.5s`, or a number of seconds.
struct HookTimeout: ExpressibleByArgument {
    let duration: Duration

    init(duration: Duration) {
        self.duration = duration
    }

    init?(argument: String) {
        let (number, scale): (Substring, Double) =
            if argument.hasSuffix("ms") { (argument.dropLast(2), 0.001) } else if argument.hasSuffix("s") {
                (argument.dropLast(), 1)
            } else { (Substring(argument), 1) }
        guard let value = Double(number), value > 0, value * scale <= 3600 else { return nil }
        duration = .milliseconds(Int64((value * scale * 1000).rounded()))
    }

    var defaultValueDescription: String { "500ms" }
}
