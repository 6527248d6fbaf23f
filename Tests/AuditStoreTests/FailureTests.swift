import AuthSignalProtocol
import Foundation
import GRDBSQLite
import TestSupport
import Testing

@testable import AuditStore

/// A small tmpfs mounted for one test; needs root and permission to mount.
final class SmallFileSystem {
    let path: String

    init?(sizeKiB: Int) throws {
        let directory = try TemporaryDirectory()
        path = directory.path + "-tmpfs"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let (status, _) = try runCommand(
            "/bin/mount", ["-t", "tmpfs", "-o", "size=\(sizeKiB)k,mode=0700", "tmpfs", path])
        if status != 0 {
            try? FileManager.default.removeItem(atPath: path)
            return nil
        }
    }

    deinit {
        _ = try? runCommand("/bin/umount", ["-l", path])
        try? FileManager.default.removeItem(atPath: path)
    }
}

@Suite("Audit store: failures", .serialized)
struct FailureTests {
    @Test func aFullDiskFailsAppendsLosesNothingAcknowledgedAndRecoversWithoutRestart() async throws {
        guard let fileSystem = try SmallFileSystem(sizeKiB: 3072) else {
            try Test.cancel("cannot mount a tmpfs here (needs root and mount permission); disk-full test not run")
        }
        let path = fileSystem.path + "/audit.db"
        // Ballast that can be deleted later to free space.
        let ballast = fileSystem.path + "/ballast"
        _ = FileManager.default.createFile(atPath: ballast, contents: Data(count: 1024 * 1024))
        var options = StoreOptions()
        options.writerCacheKiB = 256
        let store = try AuditStore(path: path, options: options)

        var acknowledged: [Int64] = []
        var failure: StoreError?
        for index in 0..<100_000 {
            do {
                acknowledged.append(
                    try await store.append(Events.make(user: "user\(index % 97)", address: "192.0.2.\(index % 200)"))
                        .seq)
            } catch {
                failure = error
                break
            }
        }
        #expect(failure.map { "\($0)" }?.contains("disk full") == true, "\(String(describing: failure))")
        #expect(acknowledged.count > 20)
        // Still full: appends keep failing, and say so.
        await #expect(throws: StoreError.self) { try await store.append(Events.make()) }

        try FileManager.default.removeItem(atPath: ballast)
        let after = try await store.append(Events.make())
        #expect(after.seq == acknowledged.last! + 1)

        let stored = try await store.all().map(\.seq)
        #expect(Set(acknowledged).isSubset(of: Set(stored)))
        #expect(try await store.verify().ok)
    }

    @Test func aWriterHeldUpByAnotherProcessLockReportsItsStall() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/audit.db"
        let store = try AuditStore(path: path)
        try await store.append(Events.make())
        await store.indexPendingRecords()
        #expect(store.writerStall == nil, "an idle writer is not stalled")
        // Another process takes the write lock and sits on it.
        var handle: OpaquePointer?
        #expect(sqlite3_open(path, &handle) == SQLITE_OK)
        defer { sqlite3_close(handle) }
        #expect(sqlite3_exec(handle, "BEGIN IMMEDIATE", nil, nil, nil) == SQLITE_OK)
        let blocked = store.submit(Events.make(user: "bob"))
        try await Task.sleep(for: .milliseconds(700))
        let stall = try #require(store.writerStall)
        #expect(stall >= .milliseconds(600), "\(stall)")
        // The lock goes; the writer catches up and is idle again.
        #expect(sqlite3_exec(handle, "COMMIT", nil, nil, nil) == SQLITE_OK)
        #expect(try await blocked.value.seq == 2)
        await store.indexPendingRecords()
        #expect(store.writerStall == nil)
        try await store.close()
    }
}
