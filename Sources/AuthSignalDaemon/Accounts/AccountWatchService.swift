import AuthSignalCore
import AuthSignalProtocol
import Foundation
import Logging
import ServiceLifecycle

/// Watches the account files (`[Accounts]`: /etc/passwd, /etc/shadow, /etc/group, /etc/gshadow)
/// and records each change as the daemon's own record: accounts added and removed, passwords
/// locked and unlocked, group memberships gained and lost (PCI DSS 10.2.1.5, CIS's identity
/// rules). It compares parsed snapshots (``AccountSnapshot``: no password hash is read into one)
/// and keeps the last one beside the audit log, so a change made while the daemon was stopped is
/// recorded when it starts. A change recorded but not yet remembered when the daemon dies is
/// recorded again at the next start: at least once.
struct AccountWatchService: Service {
    let files: AccountSnapshot.Files
    /// Where the last snapshot is kept.
    let statePath: String
    let recorder: DaemonRecorder
    let logger: Logger
    /// How often the files' metadata is looked at.
    var interval = Duration.seconds(1)

    func run() async {
        // Cancelled at shutdown, so that its second's sleep never holds a stop up.
        await cancelWhenGracefulShutdown { await watch() }
    }

    private func watch() async {
        var remembered = Self.load(statePath)
        var lastStamp: [FileIdentity?] = []
        var reportedUnreadable: Set<String> = []
        while !Task.isCancelled {
            let stamp = [files.passwd, files.shadow, files.group, files.gshadow].map(FileIdentity.init(path:))
            if stamp != lastStamp {
                do {
                    let (snapshot, unreadable) = try AccountSnapshot.read(files)
                    for path in unreadable where !reportedUnreadable.contains(path) {
                        logger.warning(
                            "accounts: cannot read \(path): \(path.contains("shadow") ? "locks and gshadow members" : "it") are not watched"
                        )
                    }
                    reportedUnreadable = Set(unreadable)
                    if let remembered {
                        for change in remembered.changes(to: snapshot, files: files) {
                            if case .failure(let error)? = await recorder.record(
                                change.signal, user: change.user, request: change.request)
                            {
                                logger.error(
                                    "accounts: \(change.signal.rawValue) of \(change.user) not recorded: \(error)")
                            }
                        }
                    }
                    if remembered != snapshot { try Self.save(snapshot, to: statePath) }
                    remembered = snapshot
                    lastStamp = stamp
                } catch {
                    logger.error("accounts: cannot read the account files: \(error)")
                }
            }
            try? await Task.sleep(for: interval)
        }
    }

    static func load(_ path: String) -> AccountSnapshot? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(AccountSnapshot.self, from: data)
    }

    static func save(_ snapshot: AccountSnapshot, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try ReplacedFile.write(Array(try encoder.encode(snapshot)), to: path)
    }
}
