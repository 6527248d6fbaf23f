import AuthSignalCore
import AuthSignalProtocol
import Foundation
import Synchronization
import TestSupport
import Testing

/// The redactor's account cache: it must answer from memory, and forget as soon as the account
/// file changes or an answer grows old.
@Suite struct KnownAccountsTests {
    /// A look-up that counts its calls and knows the names listed in a file (one per line).
    final class FileAccounts: Sendable {
        let path: String
        let calls = Atomic<Int>(0)

        init(path: String) { self.path = path }

        func knows(_ name: String) -> Bool {
            calls.add(1, ordering: .relaxed)
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").contains { $0 == name }
        }

        var count: Int { calls.load(ordering: .relaxed) }
    }

    func write(_ names: [String], to path: String) throws {
        try (names.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// A directory holding an account file that lists `names`, its path, and a counting look-up
    /// over it.
    func accountFile(_ names: [String]) throws -> (TemporaryDirectory, String, FileAccounts) {
        let directory = try TemporaryDirectory()
        let passwd = directory.file("passwd")
        try write(names, to: passwd)
        return (directory, passwd, FileAccounts(path: passwd))
    }

    @Test func repeatedNamesAreAnsweredFromMemory() throws {
        let (directory, passwd, accounts) = try accountFile(["alice"])
        _ = directory
        let cache = KnownAccounts(passwdPath: passwd, lookUp: accounts.knows)
        for _ in 0..<100 {
            #expect(cache.contains("alice"))
            #expect(!cache.contains("Tr0ub4dor&3"))
        }
        #expect(accounts.count == 2)
    }

    /// `useradd` and `userdel` replace the file (a new inode): the next look-up asks again.
    @Test func aChangedAccountFileClearsEveryAnswer() throws {
        let (directory, passwd, accounts) = try accountFile(["alice"])
        _ = directory
        let cache = KnownAccounts(passwdPath: passwd, lookUp: accounts.knows)
        #expect(!cache.contains("bob"))
        #expect(cache.contains("alice"))
        try write(["bob"], to: passwd)
        #expect(cache.contains("bob"))
        #expect(!cache.contains("alice"))
        #expect(accounts.count == 4)
    }

    /// An edit in place that keeps the size still changes the modification time.
    @Test func anEditInPlaceIsNoticed() throws {
        let (directory, passwd, accounts) = try accountFile(["carol"])
        _ = directory
        let cache = KnownAccounts(passwdPath: passwd, lookUp: accounts.knows)
        #expect(cache.contains("carol"))
        // File times advance with the kernel's coarse clock (a few milliseconds).
        Thread.sleep(forTimeInterval: 0.02)
        let handle = try #require(FileHandle(forWritingAtPath: passwd))
        try handle.write(contentsOf: Data("dave\n".utf8))
        try handle.close()
        // The same size and inode; only the modification time tells.
        #expect(cache.contains("dave"))
        #expect(!cache.contains("carol"))
    }

    /// Other NSS sources give no file to watch: their answers are asked again once old.
    @Test func oldAnswersAreAskedAgain() throws {
        let (directory, passwd, accounts) = try accountFile(["erin"])
        _ = directory
        let cache = KnownAccounts(lifetime: .milliseconds(50), passwdPath: passwd, lookUp: accounts.knows)
        #expect(cache.contains("erin"))
        #expect(cache.contains("erin"))
        #expect(accounts.count == 1)
        Thread.sleep(forTimeInterval: 0.1)
        #expect(cache.contains("erin"))
        #expect(accounts.count == 2)
    }

    /// Client-chosen names cannot grow the cache past its capacity, and a spray of them does not
    /// push out a name that keeps being asked about.
    @Test func theCacheIsBoundedAndKeepsNamesInUse() throws {
        let (directory, passwd, accounts) = try accountFile(["root"])
        _ = directory
        let cache = KnownAccounts(capacity: 8, passwdPath: passwd, lookUp: accounts.knows)
        #expect(cache.contains("root"))
        for index in 0..<100 {
            #expect(!cache.contains("guess-\(index)"))
            if index % 3 == 0 { #expect(cache.contains("root")) }
        }
        // Every guess was asked once; root only the first time.
        #expect(accounts.count == 101)
        // The earliest guesses are long gone: asking again asks the system.
        #expect(!cache.contains("guess-0"))
        #expect(accounts.count == 102)
    }

    /// Without the file (a system with accounts only in LDAP), answers still expire.
    @Test func aMissingAccountFileStillCaches() {
        let calls = Atomic<Int>(0)
        let cache = KnownAccounts(passwdPath: "/nonexistent/passwd") { _ in
            calls.add(1, ordering: .relaxed)
            return true
        }
        #expect(cache.contains("frank") && cache.contains("frank"))
        #expect(calls.load(ordering: .relaxed) == 1)
    }
}
