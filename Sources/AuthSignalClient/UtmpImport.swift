package import AuthSignalProtocol
import Crypto
package import Foundation

/// History from the files admins already have: `wtmp` (logins, logouts, reboots) and `btmp`
/// (failed logins), in glibc's binary utmp format (`struct utmp`, 384 bytes on Linux), turned into
/// the events the PAM hook would have sent (docs/sessions.md).
///
/// Each event is marked imported (sender `import-wtmp` or `import-btmp`, `request.imported`) and
/// carries the time of its record and an idempotency id made from the record's bytes, so that
/// importing a file twice (or an overlapping rotated copy) stores nothing new.
package struct UtmpImport {
    /// Which file format the records are in.
    package enum Kind: String, Sendable, CaseIterable {
        /// Logins, logouts and reboots.
        case wtmp
        /// Failed logins.
        case btmp

        /// The kind a file's name suggests (`btmp`, `btmp.1`, `wtmp.gz`'s uncompressed copy…).
        package init?(path: String) {
            let name = (path as NSString).lastPathComponent
            if name.contains("btmp") { self = .btmp } else if name.contains("wtmp") { self = .wtmp } else { return nil }
        }
    }

    /// A record that could not be read, by its position in the file.
    package struct Problem: Sendable, Hashable, CustomStringConvertible {
        /// The record's index (0-based), or the record count for a trailing partial record.
        package var index: Int
        /// What is wrong with it.
        package var reason: String
        /// `record N: reason`.
        package var description: String { "record \(index + 1): \(reason)" }
    }

    /// The size of one `struct utmp`.
    package static let recordSize = 384

    /// Records skipped because they are malformed, since ``takeProblems()`` last took them.
    private var problems: [Problem] = []
    /// How many records were skipped as malformed in all.
    package private(set) var malformed = 0
    /// Records read: logins, logouts, failures, reboots, and ones that are no event.
    package private(set) var counts: [String: Int] = [:]
    /// Records read so far (the next record's index).
    package private(set) var index = 0

    private let kind: Kind
    private let boot: BootContext
    /// wtmp: the open login on each line, and the boot it began in.
    private var openLogins: [String: (user: String, key: String)] = [:]
    private var bootLabel = "wtmp-boot-0"

    /// A reader of `kind` records, a record at a time, so that a file of any size is read in
    /// constant memory; sessions begun since this host's boot (`boot`) and never ended in the file
    /// are keyed to this boot, so that they show as still logged in rather than gone.
    package init(kind: Kind, boot: BootContext = .current()) {
        self.kind = kind
        self.boot = boot
    }

    /// The event of the next record (``recordSize`` bytes), or `nil` for a record that is no event
    /// or is malformed (then among ``takeProblems()``).
    package mutating func read(_ record: Data) -> AuthEvent? {
        defer { index += 1 }
        return event(of: record, index: index)
    }

    /// Ends the file, which had `trailingBytes` after its last whole record.
    package mutating func finish(trailingBytes: Int) {
        guard trailingBytes > 0 else { return }
        problem(index, "\(trailingBytes) trailing bytes, not a whole \(Self.recordSize)-byte record")
    }

    /// The records skipped as malformed since the last call, in file order.
    package mutating func takeProblems() -> [Problem] {
        defer { problems.removeAll() }
        return problems
    }

    private mutating func event(of record: Data, index: Int) -> AuthEvent? {
        let type = Int16(littleEndian: record.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 0, as: Int16.self) })
        let pid = Int32(littleEndian: record.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 4, as: Int32.self) })
        let seconds = Int32(
            littleEndian: record.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 340, as: Int32.self) })
        let microseconds = Int32(
            littleEndian: record.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 344, as: Int32.self) })
        guard (0...9).contains(type) else {
            problem(index, "unknown record type \(type)")
            return nil
        }
        guard let line = Self.text(record, 8, 32), let user = Self.text(record, 44, 32),
            let host = Self.text(record, 76, 256)
        else {
            problem(index, "a name field is not valid UTF-8")
            return nil
        }
        let isEvent = type == 7 || type == 8 || type == 2 || (kind == .btmp && type == 6)
        guard isEvent else {
            count("not an event (type \(type))")
            return nil
        }
        guard seconds > 0, (0..<1_000_000).contains(microseconds) else {
            problem(index, "no valid time")
            return nil
        }
        let time = Date(timeIntervalSince1970: Double(seconds) + Double(microseconds) / 1_000_000)
        var request: JSONObject = ["imported": .string(kind.rawValue)]
        if !line.isEmpty { request["tty"] = .string(line) }
        if let address = host.isEmpty ? Self.address(record) : host { request["remote_addr"] = .string(address) }
        let id = "import-" + kind.rawValue + ":" + SHA256.hash(data: record).map { String(format: "%02x", $0) }.joined()
        switch (kind, type) {
        case (.btmp, _):
            guard !user.isEmpty else {
                problem(index, "a failed login without a user name")
                return nil
            }
            return event(.userLoginFailed, user: user, request: request, time: time, id: id, what: "failures")
        case (.wtmp, 2):
            // A reboot: logins still open were never ended (`last` shows them as crash or down).
            bootLabel = "wtmp-boot-\(seconds)"
            openLogins = [:]
            count("reboots")
            return nil
        case (.wtmp, 7):
            guard !user.isEmpty else {
                problem(index, "a login without a user name")
                return nil
            }
            let bootPart =
                boot.bootTime.map { Int64(seconds) * 1_000_000 >= $0 } == true ? (boot.bootID ?? bootLabel) : bootLabel
            let key = "\(bootPart)/\(pid)/\(kind.rawValue)/\(line)"
            openLogins[line] = (user, key)
            request["pairing"] = .string(key)
            return event(.userLoggedIn, user: user, request: request, time: time, id: id, what: "logins")
        default:
            // A process ended on a line: the logout of the login open there, if there is one.
            guard let login = openLogins.removeValue(forKey: line) else {
                count("ends without a login")
                return nil
            }
            request["pairing"] = .string(login.key)
            return event(.userLoggedOut, user: login.user, request: request, time: time, id: id, what: "logouts")
        }
    }

    private mutating func event(
        _ signal: AuthSignal, user: String, request: JSONObject, time: Date, id: String, what: String
    ) -> AuthEvent {
        count(what)
        return AuthEvent(
            signal: signal, sender: "import-\(kind.rawValue)", user: user, request: request, credentials: nil,
            time: time, id: id)
    }

    private mutating func count(_ what: String) { counts[what, default: 0] += 1 }

    private mutating func problem(_ index: Int, _ reason: String) {
        problems.append(Problem(index: index, reason: reason))
        malformed += 1
    }

    /// A NUL-padded field as text; `nil` when it is not UTF-8.
    private static func text(_ record: Data, _ offset: Int, _ length: Int) -> String? {
        let bytes = record[record.startIndex + offset..<record.startIndex + offset + length].prefix { $0 != 0 }
        return String(validating: bytes, as: UTF8.self)
    }

    /// `ut_addr_v6` as an address, when the host field is empty and it is set.
    private static func address(_ record: Data) -> String? {
        let bytes = Array(record[record.startIndex + 348..<record.startIndex + 364])
        guard bytes.contains(where: { $0 != 0 }) else { return nil }
        if bytes[4...].allSatisfy({ $0 == 0 }) { return bytes[0..<4].map(String.init).joined(separator: ".") }
        return stride(from: 0, to: 16, by: 2).map { String(format: "%x", Int(bytes[$0]) << 8 | Int(bytes[$0 + 1])) }
            .joined(separator: ":")
    }
}
