import AuthSignalCore
import AuthSignalProtocol
import Logging
import ServiceLifecycle
import Signals

/// The daemon's own log lines about requests and settings, as receivers: refused requests
/// (`got_request_exception`, rate-limited per uid by ``RefusalLog``, with a summary line for each
/// burst) and changed settings (`setting_changed`). Connected while the daemon runs, and stopped
/// after the connections are drained, so that refusals during the drain are logged too.
struct DiagnosticsService: Service {
    /// The sender of the signals logged: the daemon's ``RequestProcessor/sender``.
    let sender: Sender
    let logger: Logger
    let refusals: RefusalLog

    /// Logs the request signals of `sender` to `logger`, refusals within the budget of `refusals`.
    init(sender: Sender, logger: Logger, refusals: RefusalLog = RefusalLog()) {
        self.sender = sender
        self.logger = logger
        self.refusals = refusals
    }

    /// The registrations' dispatch UID (per sender: another daemon's are other registrations).
    private static let uid = "authsignald.log"

    func run() async {
        gotRequestException.connect(sender: sender, dispatchUID: Self.uid) { [logger, refusals] _, payload in
            Self.log(payload, refusals: refusals, logger: logger)
        }
        settingChanged.connect(sender: sender, dispatchUID: Self.uid) { [logger] _, change in
            logger.notice("setting_changed \(change.setting)=\(change.value ?? "")")
        }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: refusals.window)
                for summary in refusals.flush() { logger.notice("\(summary.message)") }
            }
        }
        gotRequestException.disconnect(dispatchUID: Self.uid, sender: sender)
        settingChanged.disconnect(dispatchUID: Self.uid, sender: sender)
    }

    private static func log(_ payload: GotRequestException, refusals: RefusalLog, logger: Logger) {
        guard let error = payload.error as? ProtocolError else { return }
        let uid = payload.request?.peer.uid ?? 0
        let (decision, summary) = refusals.record(uid: uid, code: error.code)
        if let summary { logger.notice("\(summary.message)") }
        guard decision == .log else { return }
        let metadata: Logger.Metadata = [
            "connection": "\(payload.request?.connection ?? 0)", "uid": "\(uid)",
            "pid": "\(payload.request?.peer.pid ?? 0)", "code": "\(error.code.rawValue)",
        ]
        // Refused access is what a security team wants to see; malformed input is worth seeing
        // too (a broken hook loses events), at a lower priority. Both are rate-limited per uid so
        // that they cannot crowd the audit entries out of the journal.
        logger.log(level: error.code == .forbidden ? .notice : .info, "request rejected: \(error)", metadata: metadata)
    }
}
