import AuthSignalClient
import AuthSignalCore
import AuthSignalProtocol
import Foundation
import Glibc
import Testing

@Suite("Daemon connection")
struct DaemonConnectionTests {
    /// A daemon over a connection limit answers `unavailable` and closes before reading the
    /// request. When the request goes out after that close, sending fails with EPIPE; the client
    /// reports the daemon's refusal, not the broken pipe. The listening end is this test's, so
    /// that the close reliably comes first (against authsignald it is a race: AccessTests).
    @Test func aRefusalBeforeTheRequestIsReportedAsTheDaemonsError() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("conn-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.path + "/refusing.sock"
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #expect(listener >= 0)
        defer { close(listener) }
        #expect(withUnixAddress(path, { bind(listener, $0, $1) }) == 0)
        #expect(listen(listener, 1) == 0)

        let connection = try DaemonConnection(path: path)
        let accepted = accept(listener, nil, nil)
        #expect(accepted >= 0)
        let refusal =
            #"{"error":{"code":"unavailable","message":"too many connections from your user "#
            + #"(MaxConnectionsPerUser=3); try again"},"ok":false}"# + "\n"
        #expect(refusal.utf8CString.withUnsafeBufferPointer { write(accepted, $0.baseAddress, $0.count - 1) } > 0)
        close(accepted)

        do {
            _ = try connection.request(.ping, as: PingAnswer.self)
            Issue.record("the request was answered")
        } catch let error as ClientError {
            guard case .daemon(let code, let message) = error else {
                Issue.record("not the daemon's refusal: \(error)")
                return
            }
            #expect(code == "unavailable")
            #expect(message.contains("MaxConnectionsPerUser=3"))
        }
    }
}
