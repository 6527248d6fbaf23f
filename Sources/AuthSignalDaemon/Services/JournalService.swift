import ServiceLifecycle

/// Owns the journal sink's thread: it stops (sending what is queued and a final anchor) after the
/// audit log has closed, so that it sees every record.
struct JournalService: Service {
    let journal: JournalSink

    func run() async throws {
        try? await gracefulShutdown()
        journal.stop()
    }
}
