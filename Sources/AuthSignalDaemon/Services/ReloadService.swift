import AuditStore
import AuthSignalCore
import AuthSignalProtocol
import Logging
import ServiceLifecycle
import Signals
import Systemd
import UnixSignals

/// Reloads the configuration on each SIGHUP until shutdown: `RELOADING=1`, `setting_changed` for
/// each changed key, `READY=1`. A configuration with problems is reported and the old one kept;
/// keys that need a restart keep their running values.
struct ReloadService: Service {
    let source: Daemon.ConfigSource
    let processor: RequestProcessor
    let receivers: AuditReceivers
    let journal: JournalSink
    let key: RedactionKey
    let recorder: DaemonRecorder
    let notifier: Notifier
    let logger: Logger

    func run() async {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            await reload()
        }
    }

    private func reload() async {
        notifier.reloading()
        let old = processor.runtime.config
        let new: DaemonConfig
        do {
            new = try DaemonConfig.load(path: source.path, required: source.required)
        } catch {
            logger.error("reload refused, keeping the running configuration:\n\(error)")
            notifier.ready(status: "Reload refused: configuration has errors; running with the previous one")
            return
        }
        let (applied, restartOnly) = new.keepingRestartOnlySettings(of: old)
        let oldSettings = old.settings
        let runtime = Runtime(config: applied, key: key)
        processor.runtime = runtime
        journal.update(JournalSink.Settings(applied, trusted: runtime.access.trusted))
        processor.store.trust(runtime.access.trusted)
        receivers.setJournal(enabled: applied.journalEnabled)
        for problem in runtime.access.unresolved { logger.warning("access list: \(problem)") }
        let appliedSettings = applied.settings
        var changed: [String] = []
        let names = applied.settingNames + old.settingNames.filter { appliedSettings[$0] == nil }
        for setting in names where oldSettings[setting] != appliedSettings[setting] {
            changed.append(setting)
            await settingChanged.sendRobust(
                sender: processor.sender, SettingChanged(setting: setting, value: appliedSettings[setting], enter: true)
            )
        }
        if !restartOnly.isEmpty {
            logger.warning(
                "reload: \(restartOnly.sorted().joined(separator: ", ")) changed; these take effect after a restart")
        }
        logger.notice(
            "authsignald reloaded its configuration: \(changed.isEmpty ? "nothing changed" : "changed " + changed.joined(separator: ", "))"
        )
        await recorder.record(.configReloaded, request: ["changed": .array(changed.map(JSONValue.string))])
        notifier.ready(status: "Reloaded; \(changed.count) settings changed")
    }
}
