import AuthSignalCore
package import AuthSignalProtocol
import Glibc

/// How a connection's bytes travel: the daemon's Unix socket (``SocketTransport``), or, for a
/// test of the answers' parsing, bytes in memory.
package protocol DaemonTransport: AnyObject {
    /// Sends all of `bytes`.
    func send(_ bytes: [UInt8]) throws(ClientError)
    /// Appends the bytes that arrive next to `buffer`, waiting for some; `false` when the daemon
    /// has closed the connection.
    func receive(into buffer: inout [UInt8]) throws(ClientError) -> Bool
}

/// The daemon's Unix socket, blocking, or bounded by a deadline.
package final class SocketTransport: DaemonTransport {
    private let fd: Int32
    /// When every call must have finished (connect, send and receive count alike); `nil` waits
    /// as long as it takes.
    private let deadline: ContinuousClock.Instant?

    /// Connects to the socket at `path`; with a `deadline`, this and every later call fail with
    /// ``ClientError/timedOut(_:)`` once it has passed, whatever the daemon does.
    package init(path: String, deadline: ContinuousClock.Instant? = nil) throws(ClientError) {
        // The descriptor becomes `fd` only once connected: a class whose stored properties are
        // all set runs its deinit when its init throws, which would close it a second time.
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        let descriptor = socket(AF_UNIX, deadline == nil ? type : type | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard descriptor >= 0 else { throw .cannotConnect(path, String(cString: strerror(errno))) }
        while true {
            guard let result = withUnixAddress(path, { connect(descriptor, $0, $1) }) else {
                close(descriptor)
                throw .cannotConnect(path, "path too long")
            }
            if result == 0 { break }
            let code = errno
            // A Unix socket whose backlog is full refuses a non-blocking connect with EAGAIN
            // (nothing to wait on): try again until the deadline.
            if code == EAGAIN || code == EINTR, let deadline, ContinuousClock.now < deadline {
                usleep(2000)
                continue
            }
            close(descriptor)
            if code == EAGAIN, deadline != nil { throw .timedOut("connecting (the daemon accepts nothing)") }
            throw .cannotConnect(path, String(cString: strerror(code)))
        }
        fd = descriptor
        self.deadline = deadline
    }

    deinit { close(fd) }

    /// Waits until the socket is ready for `events` or the deadline passes.
    private func wait(for events: Int16, doing what: String) throws(ClientError) {
        guard let deadline else { return }
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { throw .timedOut(what) }
            var descriptor = pollfd(fd: fd, events: events, revents: 0)
            let ready = poll(&descriptor, 1, left.pollTimeout)
            if ready > 0 { return }
            if ready < 0, errno != EINTR { throw .connectionLost(String(cString: strerror(errno))) }
        }
    }

    package func send(_ bytes: [UInt8]) throws(ClientError) {
        var offset = 0
        while offset < bytes.count {
            try wait(for: Int16(POLLOUT), doing: "sending")
            let written = bytes[offset...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if written < 0, errno == EAGAIN || errno == EINTR { continue }
            guard written > 0 else { throw .connectionLost(String(cString: strerror(errno))) }
            offset += written
        }
    }

    package func receive(into buffer: inout [UInt8]) throws(ClientError) -> Bool {
        while true {
            try wait(for: Int16(POLLIN), doing: "waiting for the answer")
            let count = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 65536) { chunk in
                let count = recv(fd, chunk.baseAddress, chunk.count, 0)
                if count > 0 { buffer.append(contentsOf: chunk[..<count]) }
                return count
            }
            if count > 0 { return true }
            if count == 0 { return false }
            if errno == EINTR || errno == EAGAIN { continue }
            throw .connectionLost(String(cString: strerror(errno)))
        }
    }
}

/// A protocol v1 connection to authsignald (docs/protocol.md): requests out, answers parsed, over
/// any ``DaemonTransport``.
package final class DaemonConnection {
    /// The socket path used when neither `--socket` nor `$AUTHSIGNAL_SOCKET` is given.
    package static let defaultPath = WireProtocol.defaultSocketPath

    private let transport: any DaemonTransport
    private var buffer: [UInt8] = []
    private var start = 0

    /// The socket path from an explicit option, else `$AUTHSIGNAL_SOCKET`, else the default.
    package static func socketPath(_ option: String?) -> String {
        chosenPath(option, environment: "AUTHSIGNAL_SOCKET", default: defaultPath)
    }

    /// Connects to the daemon's socket at `path`; with a `deadline`, this and every later call
    /// fail with ``ClientError/timedOut(_:)`` once it has passed, whatever the daemon does.
    package convenience init(path: String, deadline: ContinuousClock.Instant? = nil) throws(ClientError) {
        self.init(transport: try SocketTransport(path: path, deadline: deadline))
    }

    /// A connection over `transport`.
    package init(transport: any DaemonTransport) {
        self.transport = transport
    }

    /// Sends one request as a line.
    package func send(_ request: ProtocolRequest) throws(ClientError) {
        try send(bytes: request.line)
    }

    /// Sends raw bytes (lines already framed). When the connection broke, a refusal the daemon
    /// left behind is reported instead of the broken pipe.
    package func send(bytes: [UInt8]) throws(ClientError) {
        do {
            try transport.send(bytes)
        } catch {
            // A daemon that refuses a connection answers once and closes without reading.
            if case .connectionLost = error, let refusal = refusalLeftBehind() { throw refusal }
            throw error
        }
    }

    /// The error the daemon answered before it closed the connection, if it did. A daemon that
    /// refuses a connection (over `MaxConnections` or `MaxConnectionsPerUser`) answers once and
    /// closes without reading, so the request may meet a closed socket; the refusal is still
    /// there to read, and says more than "Broken pipe".
    private func refusalLeftBehind() -> ClientError? {
        guard let line = try? nextRawLine(), case .error(let error)? = try? Self.read(line, as: WireRecord.self)
        else { return nil }
        return .daemon(error.code.rawValue, error.message)
    }

    /// `line` read as an answer line whose items are `Item`s.
    /// - Throws: ``ClientError/badAnswer`` when it is none.
    private static func read<Item: WireItem>(_ line: ArraySlice<UInt8>, as item: Item.Type) throws(ClientError)
        -> AnswerLine<Item>
    {
        do {
            return try AnswerLine<Item>(line)
        } catch {
            throw .badAnswer
        }
    }

    /// The next answer line as received, without its newline; `nil` when the daemon closed the
    /// connection.
    private func nextRawLine() throws(ClientError) -> ArraySlice<UInt8>? {
        while true {
            let found = buffer.withUnsafeBytes { bytes -> Int? in
                guard let base = bytes.baseAddress, start < bytes.count else { return nil }
                return memchr(base + start, 0x0A, bytes.count - start).map { UnsafeRawPointer($0) - base }
            }
            if let newline = found {
                let line = buffer[start..<newline]
                start = newline + 1
                return line
            }
            // Only the start of one line is left: drop what was read before reading on.
            buffer.removeFirst(start)
            start = 0
            guard try transport.receive(into: &buffer) else { return nil }
        }
    }

    /// Sends a query and calls `each` with the JSON object of every record it answers, as the
    /// daemon wrote it, once checked to be one valid JSON object with no raw control characters:
    /// printing records as JSON then costs a copy, not a parse and an encoding. Returns the count.
    /// - Throws: ``ClientError/daemon(_:_:)`` when the final line is an error; ``ClientError/badAnswer``
    ///   for a record line that is not a JSON object.
    package func query(_ filter: RecordFilter, recordJSON each: (ArraySlice<UInt8>) throws -> Void) throws -> Int {
        try send(.query(filter))
        let prefix = Array(#"{"record":"#.utf8)
        while let line = try nextRawLine() {
            if line.starts(with: prefix), line.last == UInt8(ascii: "}") {
                let object = line[(line.startIndex + prefix.count)..<(line.endIndex - 1)]
                let valid = object.withUnsafeBufferPointer {
                    JSONParser.isObject($0, maximumDepth: 4096, allowsNUL: true)
                }
                guard valid else { throw ClientError.badAnswer }
                try each(object)
                continue
            }
            switch try Self.read(line, as: WireRecord.self) {
            case .item(let record):
                // A record line written some other way (another daemon version): read and
                // written again.
                var object: [UInt8] = []
                record.appendObject(to: &object)
                try each(object[...])
            case .ok(let fields): return try Self.decode(CountAnswer.self, fields).count
            case .error(let error): throw ClientError.daemon(error.code.rawValue, error.message)
            }
        }
        throw ClientError.connectionLost("the daemon closed the connection")
    }

    /// Reads one request's answer: calls `record` for each record line and returns the fields of
    /// the final line, whatever the op.
    /// - Throws: ``ClientError/daemon(_:_:)`` when the final line is an error.
    package func answerFields(record: (WireRecord) throws -> Void = { _ in }) throws -> JSONObject {
        try answerFields(WireRecord.self, each: record)
    }

    /// Reads one request's answer: calls `each` for each line carrying an `Item` and returns the
    /// fields of the final line.
    /// - Throws: ``ClientError/daemon(_:_:)`` when the final line is an error.
    package func answerFields<Item: WireItem>(_ item: Item.Type, each: (Item) throws -> Void) throws -> JSONObject {
        while let line = try nextRawLine() {
            switch try Self.read(line, as: Item.self) {
            case .item(let item): try each(item)
            case .ok(let fields): return fields
            case .error(let error): throw ClientError.daemon(error.code.rawValue, error.message)
            }
        }
        throw ClientError.connectionLost("the daemon closed the connection")
    }

    /// A final line's fields read as `Answer`.
    /// - Throws: ``ClientError/badAnswer`` when they are not one.
    private static func decode<Answer: ProtocolAnswer>(_ type: Answer.Type, _ fields: JSONObject) throws(ClientError)
        -> Answer
    {
        do {
            return try Answer(fields: fields)
        } catch {
            throw .badAnswer
        }
    }

    /// Reads one request's answer as `Answer`, calling `record` for each record line.
    package func answer<Answer: ProtocolAnswer>(
        _ type: Answer.Type, record: (WireRecord) throws -> Void = { _ in }
    ) throws -> Answer {
        try answer(type, items: record)
    }

    private func answer<Answer: ProtocolAnswer, Item: WireItem>(
        _ type: Answer.Type, items each: (Item) throws -> Void
    ) throws -> Answer {
        try Self.decode(type, answerFields(Item.self, each: each))
    }

    /// Sends `request` and returns its answer as `Answer`, calling `record` for each record line.
    package func request<Answer: ProtocolAnswer>(
        _ request: ProtocolRequest, as type: Answer.Type, record: (WireRecord) throws -> Void = { _ in }
    ) throws -> Answer {
        try send(request)
        return try answer(type, record: record)
    }

    /// Sends `request` and returns its answer as `Answer`, calling `each` for each `Item` line
    /// (sessions, accounts).
    package func request<Answer: ProtocolAnswer, Item: WireItem>(
        _ request: ProtocolRequest, as type: Answer.Type, each: (Item) throws -> Void
    ) throws -> Answer {
        try send(request)
        return try answer(type, items: each)
    }
}

/// What went wrong talking to the daemon. Exit statuses are in docs/cli.md.
package enum ClientError: Error, CustomStringConvertible {
    /// The socket could not be reached.
    case cannotConnect(String, String)
    /// The connection broke.
    case connectionLost(String)
    /// The daemon answered something that is not protocol v1.
    case badAnswer
    /// The daemon answered an error.
    case daemon(String, String)
    /// The deadline passed (while doing what).
    case timedOut(String)

    /// A message for people.
    package var description: String {
        switch self {
        case .cannotConnect(let path, let reason): "cannot connect to authsignald at \(path): \(reason)"
        case .connectionLost(let reason): "connection to authsignald lost: \(reason)"
        case .badAnswer: "authsignald sent an answer that is not protocol v1"
        case .daemon(let code, let message): "authsignald: \(code): \(message)"
        case .timedOut(let what): "authsignald did not answer in time (\(what))"
        }
    }
}

/// A path given as an option, else by the environment variable `name` when set and not empty,
/// else `fallback`.
func chosenPath(_ option: String?, environment name: String, default fallback: String) -> String {
    if let option { return option }
    if let variable = getenv(name), variable.pointee != 0 { return String(cString: variable) }
    return fallback
}

extension Duration {
    /// This duration as a `poll(2)` timeout: whole milliseconds, at least 1 (a deadline not yet
    /// passed must not become a busy poll), clamped to what `poll` takes.
    package var pollTimeout: Int32 {
        let milliseconds = components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
        return Int32(clamping: max(1, milliseconds))
    }
}
