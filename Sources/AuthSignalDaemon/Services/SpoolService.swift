import ServiceLifecycle

/// Drains the PAM hook's spool into the audit log until shutdown; ends at once, leaving the group
/// running, when the spool directory cannot be used (``SpoolDrainer/prepare()`` says why).
struct SpoolService: Service {
    let drainer: SpoolDrainer

    func run() async {
        guard drainer.prepare() else { return }
        await cancelWhenGracefulShutdown { await drainer.run() }
    }
}
