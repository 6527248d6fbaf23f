import AuthSignalProtocol
import Foundation
import Testing

@testable import AuthSignalClient

/// `import`'s reading of glibc's binary utmp records, record by record: no daemon, no file.
@Suite("utmp import, record by record")
struct UtmpImportTests {
    /// One `struct utmp` (glibc, x86-64: 384 bytes) with the fields the import reads.
    static func record(
        type: Int16, pid: Int32 = 100, line: String = "", user: [UInt8] = [], host: String = "",
        address: [UInt8] = [], seconds: Int32, microseconds: Int32 = 0
    ) -> Data {
        var bytes = [UInt8](repeating: 0, count: UtmpImport.recordSize)
        func put(_ value: [UInt8], at offset: Int) { bytes.replaceSubrange(offset..<offset + value.count, with: value) }
        put(withUnsafeBytes(of: type.littleEndian, Array.init), at: 0)
        put(withUnsafeBytes(of: pid.littleEndian, Array.init), at: 4)
        put(Array(line.utf8), at: 8)
        put(user, at: 44)
        put(Array(host.utf8), at: 76)
        put(withUnsafeBytes(of: seconds.littleEndian, Array.init), at: 340)
        put(withUnsafeBytes(of: microseconds.littleEndian, Array.init), at: 344)
        put(address, at: 348)
        return Data(bytes)
    }

    static let past = BootContext(bootID: "this-boot", bootTime: 4_000_000_000 * 1_000_000)

    @Test func loginsAndLogoutsPairByLineWithinABoot() throws {
        var reader = UtmpImport(kind: .wtmp, boot: Self.past)
        let reboot = reader.read(Self.record(type: 2, user: Array("reboot".utf8), seconds: 1_700_000_000))
        #expect(reboot == nil)
        let read = reader.read(
            Self.record(
                type: 7, pid: 1234, line: "pts/1", user: Array("alice".utf8), host: "192.0.2.7",
                seconds: 1_700_000_100, microseconds: 250_000))
        let login = try #require(read)
        #expect(login.signal == .userLoggedIn && login.user == "alice" && login.sender == "import-wtmp")
        #expect(login.request?["remote_addr"] == .string("192.0.2.7"))
        #expect(login.request?["pairing"] == .string("wtmp-boot-1700000000/1234/wtmp/pts/1"))
        #expect(login.time == Date(timeIntervalSince1970: 1_700_000_100.25))
        #expect(login.id?.hasPrefix("import-wtmp:") == true)
        // The dead process on that line ends the session, with the same key.
        let ended = reader.read(Self.record(type: 8, line: "pts/1", seconds: 1_700_000_200))
        let logout = try #require(ended)
        #expect(logout.signal == .userLoggedOut && logout.user == "alice")
        #expect(logout.request?["pairing"] == login.request?["pairing"])
        // An end with no login open on its line is counted, not recorded.
        let stray = reader.read(Self.record(type: 8, line: "pts/9", seconds: 1_700_000_300))
        #expect(stray == nil)
        #expect(reader.counts == ["reboots": 1, "logins": 1, "logouts": 1, "ends without a login": 1])
        #expect(reader.takeProblems().isEmpty)
    }

    @Test func aLoginSinceThisBootIsKeyedToIt() throws {
        var reader = UtmpImport(kind: .wtmp, boot: BootContext(bootID: "this-boot", bootTime: 1_000_000))
        let read = reader.read(
            Self.record(type: 7, pid: 9, line: "tty1", user: Array("carol".utf8), seconds: 1_700_000_000))
        let login = try #require(read)
        #expect(login.request?["pairing"] == .string("this-boot/9/wtmp/tty1"))
    }

    @Test func failuresCarryTheAddressFieldWhenTheHostIsEmpty() throws {
        var reader = UtmpImport(kind: .btmp, boot: Self.past)
        let first = reader.read(
            Self.record(
                type: 6, line: "ssh:notty", user: Array("root".utf8), address: [203, 0, 113, 50],
                seconds: 1_700_000_000))
        let failure = try #require(first)
        #expect(failure.signal == .userLoginFailed && failure.user == "root")
        #expect(failure.request?["remote_addr"] == .string("203.0.113.50"))
        let second = reader.read(
            Self.record(
                type: 6, user: Array("admin".utf8),
                address: [0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11)
                    + [1], seconds: 1_700_000_001))
        let v6 = try #require(second)
        #expect(v6.request?["remote_addr"] == .string("2001:db8:0:0:0:0:0:1"))
    }

    @Test func malformedRecordsAreSkippedAndNamed() {
        var reader = UtmpImport(kind: .btmp, boot: Self.past)
        let records = [
            Self.record(type: 42, seconds: 1), Self.record(type: 6, user: [0xC3, 0x28], seconds: 1_700_000_000),
            Self.record(type: 6, user: Array("x".utf8), seconds: 0), Self.record(type: 6, seconds: 1_700_000_000),
        ]
        for record in records {
            let event = reader.read(record)
            #expect(event == nil)
        }
        #expect(
            reader.takeProblems().map(\.description) == [
                "record 1: unknown record type 42", "record 2: a name field is not valid UTF-8",
                "record 3: no valid time", "record 4: a failed login without a user name",
            ])
        #expect(reader.malformed == 4)
    }
}
