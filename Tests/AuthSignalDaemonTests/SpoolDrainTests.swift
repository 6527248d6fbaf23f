import AuditStore
import AuthSignalClient
import AuthSignalCore
import AuthSignalProtocol
import Foundation
import Glibc
import Logging
import SpawnSupport
import Synchronization
import TestSupport
import Testing

@testable import AuthSignalDaemon

/// The spool, in process: ``SpoolDirectory`` on a temporary directory and ``SpoolDrainer`` feeding
/// a ``DaemonHarness``'s real audit log. Only the audit path can fill the spool (issue 24, item 1),
/// and what the drainer refuses is reported, moved aside and bounded, never fatal.
@Suite("Spool, in process")
struct SpoolDrainTests {
    /// A drainer of `harness`'s spool that logs into `log`, its directory prepared.
    static func drainer(_ harness: DaemonHarness, log: DaemonHarness.LogLines) throws -> SpoolDrainer {
        let drainer = SpoolDrainer(
            directory: harness.spoolPath, key: SpoolOpeningKey(redactionKey: harness.key),
            processor: harness.processor, logger: Logger(label: "spool-test") { _ in log })
        try #require(drainer.prepare())
        return drainer
    }

    /// The spool's entries other than the key and `refused/`.
    static func waiting(_ spool: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: spool).filter {
            $0 != Spool.publicKeyName && $0 != Spool.refusedName
        }
    }

    @Test func untrustworthyFilesAreMovedAsideNeverFatal() async throws {
        let harness = try DaemonHarness()
        let log = DaemonHarness.LogLines()
        let drainer = try Self.drainer(harness, log: log)
        let spool = harness.spoolPath
        var info = stat()
        #expect(stat(spool, &info) == 0 && info.st_mode & 0o7777 == 0o700)
        let writer = SpoolWriter(directory: spool)
        func sealed(_ user: String, id: String) throws -> String {
            let line = Array(
                #"{"op":"emit","signal":"user_login_failed","sender":"sshd","user":"\#(user)","id":"\#(id)"}"#.utf8)
            return try writer.write(line, time: Date(), id: id)
        }
        let good = try sealed("root", id: "good-1")
        let name = { (id: String) in spool + "/" + Spool.fileName(time: Date(), id: id) }
        // A symbolic link, a FIFO, a hard link, a file others may write, garbage, too large, a
        // name that is no event's, a file of an account that cannot write to the spool, and a
        // sealed request that is not an emit.
        symlink("/etc/passwd", name("link"))
        mkfifo(name("fifo"), 0o600)
        let linked = try sealed("root", id: "linked")
        link(linked, spool + "/second-name")
        let loose = try sealed("root", id: "loose")
        chmod(loose, 0o666)
        let garbage = name("garbage")
        _ = FileManager.default.createFile(atPath: garbage, contents: Data("not sealed".utf8))
        chmod(garbage, 0o600)
        _ = FileManager.default.createFile(
            atPath: name("huge"), contents: Data(count: Spool.maximumFileBytes + 1),
            attributes: [.posixPermissions: 0o600])
        _ = FileManager.default.createFile(atPath: spool + "/notes.txt", contents: Data("x".utf8))
        let stranger = try sealed("root", id: "stranger")
        chown(stranger, 4242, uid_t.max)
        _ = try writer.write(Array(#"{"op":"stats"}"#.utf8), time: Date(), id: "not-an-emit")
        await drainer.drain()
        #expect(try Self.waiting(spool).isEmpty)
        let refused = try FileManager.default.contentsOfDirectory(atPath: spool + "/" + Spool.refusedName)
        #expect(refused.count == 10, "\(refused)")
        #expect(!refused.contains((good as NSString).lastPathComponent))
        #expect(try await harness.records().map(\.user) == ["root"], "only the good event is stored")
        let counters = harness.processor.counters.spool.counters
        #expect(counters.refused == 10 && counters.stored == 1 && counters.pending == 0)
        for reason in [
            "symbolic link", "not a regular file", "2 links", "lets others change it", "not an event sealed",
            "too large", "not the name of a spooled event", "which cannot write to the spool", "not an emit request",
        ] {
            #expect(log.all.contains(reason), "no report of \(reason)")
        }
        try await harness.close()
    }

    /// Entries under a hook's temporary names (a symbolic link, a directory, a file dated 2100)
    /// were never removed, and `refused/` grew without bound.
    @Test func strayEntriesGoAndRefusedStaysBounded() async throws {
        let harness = try DaemonHarness()
        let drainer = try Self.drainer(harness, log: DaemonHarness.LogLines())
        let spool = harness.spoolPath
        symlink("/etc/passwd", spool + "/.1.event")
        mkdir(spool + "/.2.event", 0o700)
        _ = FileManager.default.createFile(atPath: spool + "/.2.event/inside", contents: Data("x".utf8))
        _ = FileManager.default.createFile(atPath: spool + "/.3.event", contents: Data("x".utf8))
        var times = [timespec(tv_sec: 4_102_444_800, tv_nsec: 0), timespec(tv_sec: 4_102_444_800, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, spool + "/.3.event", &times, 0) == 0)
        // A hook's file being written now is left alone.
        _ = FileManager.default.createFile(atPath: spool + "/.4.event", contents: Data("x".utf8))
        let junkCount = Spool.maximumRefused + 150
        for index in 0..<junkCount {
            let name = spool + "/" + Spool.fileName(time: Date(), id: "junk-\(index)")
            #expect(FileManager.default.createFile(atPath: name, contents: Data("junk".utf8)))
            chmod(name, 0o600)
        }
        await drainer.drain()
        #expect(try Self.waiting(spool) == [".4.event"])
        // The symbolic link and the directory are refused, the file dated 2100 deleted.
        #expect(harness.processor.counters.spool.counters.refused == junkCount + 2)
        let refused = try FileManager.default.contentsOfDirectory(atPath: spool + "/" + Spool.refusedName)
        #expect(refused.count == Spool.maximumRefused, "refused/ holds \(refused.count) entries")
        // The newest stay: the last junk file is among them, the first is not.
        #expect(refused.contains { $0.hasSuffix("-junk-\(junkCount - 1).event") })
        #expect(!refused.contains { $0.hasSuffix("-junk-0.event") })
        #expect(harness.processor.counters.spool.counters.pending == 0)
        try await harness.close()
    }

    /// A user with no groups once filled the spool (mode 3733) with 10,000 junk files in 0.3 s, so
    /// that root's hook reported its event lost. The directory is the daemon's alone, and an old
    /// mode is corrected when it is prepared.
    @Test func aUserCannotAddToTheSpoolAndAnOldModeIsCorrected() async throws {
        let uid = try requireTestAccount()
        let directory = try TemporaryDirectory()
        chmod(directory.path, 0o755)
        let spool = SpoolDirectory(path: directory.path + "/spool")
        let key = try SpoolOpeningKey(redactionKey: RedactionKey(bytes: Array(repeating: 7, count: 32)))
        try spool.prepare(publicKey: key.publicKeyBytes)
        var info = stat()
        #expect(stat(spool.path, &info) == 0 && info.st_mode & 0o7777 == 0o700)
        let junk = spool.path + "/" + Spool.fileName(time: Date(), id: "junk")
        let attempt = try await run(
            "/usr/bin/setpriv", ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "--", "/usr/bin/touch", junk])
        #expect(attempt.status != 0 && attempt.output.contains("Permission denied"), "\(attempt)")
        #expect(!FileManager.default.fileExists(atPath: junk))
        chmod(spool.path, 0o3733)
        try spool.prepare(publicKey: key.publicKeyBytes)
        #expect(stat(spool.path, &info) == 0 && info.st_mode & 0o7777 == 0o700)
        // The key hooks seal to, the daemon's, readable by all.
        #expect(lstat(spool.path + "/" + Spool.publicKeyName, &info) == 0 && info.st_mode & 0o777 == 0o644)
        #expect(
            FileManager.default.contents(atPath: spool.path + "/" + Spool.publicKeyName) == Data(key.publicKeyBytes))
    }

    @Test func aDirectoryTheDaemonDoesNotOwnIsNotUsed() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/spool"
        mkdir(path, 0o700)
        chown(path, 4242, 4242)
        #expect(throws: SpoolDirectory.Unusable.self) { try SpoolDirectory(path: path).prepare(publicKey: [1, 2]) }
        let file = directory.path + "/file"
        _ = FileManager.default.createFile(atPath: file, contents: Data())
        #expect(throws: SpoolDirectory.Unusable.self) { try SpoolDirectory(path: file).prepare(publicKey: [1, 2]) }
    }
}
