import AuthSignalClient
import AuthSignalCore
import AuthSignalProtocol
import Foundation
import Glibc
import TestSupport
import Testing

/// The hook writes to a spool only nobody but root and the daemon could have made or changed
/// (issue 24, item 1): a user who created the path first once received root's events sealed to
/// their own key, and read a password typed as a user name.
@Suite struct SpoolDirectoryTests {
    /// A spool as the daemon makes it (mode 0700) in a fresh directory, with its public key.
    struct Layout {
        let root: TemporaryDirectory
        var spool: String { root.path + "/spool" }

        init(owner: uid_t? = nil, mode: mode_t = Spool.directoryMode) throws {
            root = try TemporaryDirectory()
            try #require(mkdir(spool, mode) == 0)
            chmod(spool, mode)
            let key = SpoolOpeningKey(redactionKey: try RedactionKey(bytes: [UInt8](repeating: 7, count: 32)))
            try #require(
                FileManager.default.createFile(
                    atPath: spool + "/" + Spool.publicKeyName, contents: Data(key.publicKeyBytes),
                    attributes: [.posixPermissions: 0o644]))
            if let owner {
                chown(spool, owner, gid_t.max)
                chown(spool + "/" + Spool.publicKeyName, owner, gid_t.max)
            }
        }

        func write() throws(SpoolError) -> String {
            let line = Array(#"{"op":"emit","signal":"user_login_failed","sender":"sshd","id":"t-1"}"#.utf8)
            return try SpoolWriter(directory: spool).write(line, time: Date(), id: "t-1")
        }

        var events: [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: spool)) ?? []).filter { $0.hasSuffix(Spool.suffix) }
        }
    }

    static let someUser: uid_t = 4_242

    @Test func theDaemonsSpoolIsUsed() throws {
        let layout = try Layout()
        let path = try layout.write()
        #expect(layout.events == [(path as NSString).lastPathComponent])
    }

    @Test(.enabled(if: geteuid() == 0, "needs root to give a directory to another user"))
    func aSpoolAUserMadeInAStickyDirectoryIsRefused() throws {
        let layout = try Layout(owner: Self.someUser)
        chmod(layout.root.path, 0o1777)
        #expect(
            throws: SpoolError.untrusted(
                "\(layout.spool) belongs to uid 4242, and its parent lets others create entries")
        ) {
            try layout.write()
        }
        #expect(layout.events.isEmpty)
    }

    @Test(.enabled(if: geteuid() == 0, "needs root to give a directory to another user"))
    func aDirectoryOnTheWayThatAUserOwnsIsRefused() throws {
        let layout = try Layout()
        chown(layout.root.path, Self.someUser, gid_t.max)
        #expect(throws: SpoolError.untrusted("\(layout.root.path) belongs to uid 4242")) { try layout.write() }
        #expect(layout.events.isEmpty)
    }

    @Test func aDirectoryOnTheWayThatOthersMayWriteIsRefused() throws {
        let layout = try Layout()
        chmod(layout.root.path, 0o777)
        #expect(throws: SpoolError.untrusted("\(layout.root.path) may be written by others (mode 777)")) {
            try layout.write()
        }
        #expect(layout.events.isEmpty)
    }

    @Test func theOldSharedModeIsRefused() throws {
        let layout = try Layout(mode: 0o3733)
        #expect(throws: SpoolError.untrusted("\(layout.spool) has mode 3733; only its owner may use it (0700)")) {
            try layout.write()
        }
        #expect(layout.events.isEmpty)
    }

    @Test func aSymbolicLinkOnTheWayIsRefused() throws {
        let layout = try Layout()
        let link = layout.root.path + "/link"
        symlink(layout.spool, link)
        #expect(throws: SpoolError.untrusted("\(link) is not a directory (a symbolic link is not followed)")) {
            try SpoolWriter(directory: link).write(Array("x".utf8), time: Date(), id: "t-2")
        }
    }

    @Test(.enabled(if: geteuid() == 0, "needs root to give a directory to another user"))
    func onlyRootAndTheOwnerMayWrite() throws {
        let layout = try Layout(owner: 0)
        #expect(
            throws: SpoolError.untrusted("only root and the daemon may write to it (uid 0); this hook runs as uid 4242")
        ) {
            try SpoolDirectory.open(layout.spool, euid: Self.someUser)
        }
        // Root may write to a spool of any owner's (the daemon's), the owner to its own.
        let (fd, _) = try SpoolDirectory.open(layout.spool, euid: 0)
        close(fd)
    }
}
