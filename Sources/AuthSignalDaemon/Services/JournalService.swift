import ServiceLifecycle

/// Owns the journal sink's thread: ``JournalSink/run()`` starts it and waits for it to end. At
/// shutdown, which reaches this service after the audit log has closed (so the sink has seen
/// every record), the sink is asked to send what is queued and its final anchor, and the service
/// ends when it has (or after the sink's stop timeout).
struct JournalService: Service {
    let journal: JournalSink

    func run() async {
        await withGracefulShutdownHandler {
            await journal.run()
        } onGracefulShutdown: {
            journal.stop()
        }
    }
}
