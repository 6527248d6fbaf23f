// failed-logins [SOCKET] [HOURS]: the failed logins authsignald recorded in the last HOURS hours
// (default 24), counted by account and source address, most first. SOCKET defaults to the
// daemon's (/run/authsignald/authsignald.sock); reading needs the daemon's read access (the
// `adm` group by default, docs/protocol.md).
import AuthSignalProtocol
import Foundation
import Glibc

/// A blocking connection to the daemon's Unix socket that writes request lines and reads answer
/// lines.
final class Connection {
    private let descriptor: Int32
    private var buffered: [UInt8] = []

    init(path: String) throws {
        descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard descriptor >= 0, bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw Failure("cannot make a socket for \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            close(descriptor)
            throw Failure("cannot connect to \(path): \(String(cString: strerror(errno)))")
        }
    }

    deinit { close(descriptor) }

    /// Sends `request` as one line.
    func send(_ request: ProtocolRequest) throws {
        let line = request.line
        var sent = 0
        while sent < line.count {
            let written = line[sent...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            guard written > 0 else { throw Failure("the daemon closed the connection") }
            sent += written
        }
    }

    /// The next answer line, without its newline.
    func nextLine() throws -> ArraySlice<UInt8> {
        while true {
            if let newline = buffered.firstIndex(of: UInt8(ascii: "\n")) {
                let line = buffered[..<newline]
                buffered.removeSubrange(...newline)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = read(descriptor, &chunk, chunk.count)
            guard count > 0 else { throw Failure("the daemon closed the connection") }
            buffered += chunk[..<count]
        }
    }
}

struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

let arguments = CommandLine.arguments
let path = arguments.count > 1 ? arguments[1] : WireProtocol.defaultSocketPath
let hours = arguments.count > 2 ? Double(arguments[2]) ?? 24 : 24

do {
    let connection = try Connection(path: path)
    try connection.send(
        .query(RecordFilter(signal: .userLoginFailed, since: Date(timeIntervalSinceNow: -hours * 3600))))
    var counts: [String: Int] = [:]
    reading: while true {
        switch try AnswerLine<WireRecord>(try connection.nextLine()) {
        case .item(let record):
            counts["\(record.user ?? "-") from \(record.remoteAddr ?? "local")", default: 0] += 1
        case .ok(let fields):
            print("\(fields["count"]?.intValue ?? 0) failed logins in the last \(hours) h")
            break reading
        case .error(let error):
            throw Failure("the daemon refused: \(error)")
        }
    }
    for (who, count) in counts.sorted(by: { ($0.value, $1.key) > ($1.value, $0.key) }) {
        print(String(count).leftPadded(to: 7), who)
    }
} catch {
    FileHandle.standardError.write(Data("failed-logins: \(error)\n".utf8))
    exit(1)
}

extension String {
    /// The string with spaces before it up to `width` characters.
    func leftPadded(to width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
