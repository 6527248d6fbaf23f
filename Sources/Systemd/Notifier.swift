import CSystemd
import Glibc

/// Tells the service manager about the daemon's state (`sd_notify`, for `Type=notify`).
/// Without `NOTIFY_SOCKET` every call does nothing and returns `false`.
package struct Notifier: Sendable {
    private let deliver: @Sendable (String) -> Bool

    /// A notifier for the service manager named by `NOTIFY_SOCKET`.
    package init() {
        deliver = { sd_notify(0, $0) > 0 }
    }

    /// A notifier that hands each message to `deliver` (which says whether it arrived) in place
    /// of the service manager. Tests use it: pointing `NOTIFY_SOCKET` elsewhere would mean
    /// `setenv` in a process whose other threads are spawning programs, and a `setenv` that moves
    /// `environ` while a spawn copies it crashes the process.
    package init(delivering deliver: @escaping @Sendable (String) -> Bool) {
        self.deliver = deliver
    }

    /// Sends raw assignments such as `"READY=1\nSTATUS=…"`.
    /// - Returns: whether a service manager received them.
    @discardableResult
    package func send(_ state: String) -> Bool {
        deliver(state)
    }

    /// Start-up is complete.
    @discardableResult
    package func ready(status: String? = nil) -> Bool {
        send("READY=1" + (status.map { "\nSTATUS=\(Self.line($0))" } ?? ""))
    }

    /// A one-line status shown by `systemctl status`.
    @discardableResult
    package func status(_ text: String) -> Bool { send("STATUS=\(Self.line(text))") }

    /// Start-up is still under way and needs `time` more (`EXTEND_TIMEOUT_USEC`), doing `status`.
    @discardableResult
    package func extendStart(by time: Duration, status: String) -> Bool {
        send("EXTEND_TIMEOUT_USEC=\(time.microseconds)\nSTATUS=\(Self.line(status))")
    }

    /// A configuration reload begins; send ``ready(status:)`` when it is done.
    @discardableResult
    package func reloading() -> Bool {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let microseconds = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
        return send("RELOADING=1\nMONOTONIC_USEC=\(microseconds)")
    }

    /// Shutdown begins.
    @discardableResult
    package func stopping(status: String? = nil) -> Bool {
        send("STOPPING=1" + (status.map { "\nSTATUS=\(Self.line($0))" } ?? ""))
    }

    /// The daemon is alive (keeps the watchdog from restarting it).
    @discardableResult
    package func watchdog() -> Bool { send("WATCHDOG=1") }

    /// The daemon failed with `code` (an errno).
    @discardableResult
    package func failed(errno code: Int32) -> Bool { send("ERRNO=\(code)") }

    /// The watchdog interval the service manager expects pings within (`WATCHDOG_USEC`), if one
    /// is set for this process (always read from the environment).
    package var watchdogInterval: Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(microseconds))
    }

    private static func line(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 })
    }
}
