import AuthSignalProtocol

/// The sessions still open, as `concurrent-sources` needs them: only keyed ones (the PAM hook's
/// `BOOT/PID/SERVICE/TTY`), paired by the rule of ``SessionBook`` (a logout ends the latest open
/// login with its key, when it comes from the login's sender or root; the first event of a boot
/// closes the sessions of other boots). A session without a key is left out: its logout may never
/// be told from another's, and one that never ends would make every later login concurrent.
struct OpenSessions {
    struct Session {
        let seq: Int64
        let user: String?
        let address: String?
        let source: LoginSource?
        let peerUID: Int64
        let boot: String?
        let start: Int64
        let pairing: String
    }

    private var bySeq: [Int64: Session] = [:]
    /// Open sessions by pairing key, oldest first.
    private var byPairing: [String: [Int64]] = [:]
    private var byUser: [String: [Int64]] = [:]
    private var boots: Set<String> = []

    /// The open sessions of `user`.
    func open(of user: String) -> [Session] {
        (byUser[user] ?? []).compactMap { bySeq[$0] }
    }

    /// Notes the boot a login or logout names: the first event of a boot closes the keyed
    /// sessions of other boots begun by then. Called before the event is judged.
    mutating func see(_ event: ActivityEvent) {
        // Only a key names a boot; an unkeyed event's fallback key is not worth building here.
        guard event.key?.isEmpty == false, let boot = SessionBook.identity(of: event).boot,
            boots.insert(boot).inserted
        else { return }
        for session in bySeq.values where session.boot != nil && session.boot != boot && session.start <= event.at {
            remove(session)
        }
    }

    mutating func begin(_ event: ActivityEvent, source: LoginSource?) {
        guard event.key?.isEmpty == false else { return }
        let identity = SessionBook.identity(of: event)
        let session = Session(
            seq: event.seq, user: event.user, address: event.remoteAddr, source: source, peerUID: event.peerUID,
            boot: identity.boot, start: event.at, pairing: identity.pairing)
        bySeq[event.seq] = session
        byPairing[identity.pairing, default: []].append(event.seq)
        if let user = event.user { byUser[user, default: []].append(event.seq) }
    }

    mutating func end(_ event: ActivityEvent) {
        guard event.key?.isEmpty == false else { return }
        let identity = SessionBook.identity(of: event)
        guard let seq = byPairing[identity.pairing]?.last, let session = bySeq[seq],
            event.peerUID == 0 || event.peerUID == session.peerUID
        else { return }
        remove(session)
    }

    /// Keeps the newest `limit` sessions.
    mutating func bound(to limit: Int) {
        guard bySeq.count > limit else { return }
        for seq in bySeq.keys.sorted().prefix(bySeq.count - limit / 2) {
            if let session = bySeq[seq] { remove(session) }
        }
    }

    private mutating func remove(_ session: Session) {
        bySeq[session.seq] = nil
        byPairing[session.pairing]?.removeAll { $0 == session.seq }
        if byPairing[session.pairing]?.isEmpty == true { byPairing[session.pairing] = nil }
        if let user = session.user {
            byUser[user]?.removeAll { $0 == session.seq }
            if byUser[user]?.isEmpty == true { byUser[user] = nil }
        }
    }
}
