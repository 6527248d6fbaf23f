// Appends to an audit log as fast as it can and prints every acknowledged seq, one per line,
// flushed at once: the crash test (Tests/AuditStoreTests) kills it with SIGKILL at a random
// moment and checks that every printed seq survived. scripts/stress-store runs that in rounds.
//
// Usage: store-stress DATABASE [APPENDERS]
import AuditStore
import AuthSignalCore
import Foundation

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    FileHandle.standardError.write(Data("usage: store-stress DATABASE [APPENDERS]\n".utf8))
    exit(2)
}
let appenders = arguments.count >= 3 ? Int(arguments[2]) ?? 8 : 8
let store = try AuditStore(path: arguments[1])
let redactor = Redactor(mode: .mask, key: try RedactionKey(bytes: Array(repeating: 7, count: 32)))

await withTaskGroup(of: Void.self) { group in
    for appender in 0..<appenders {
        group.addTask {
            var index = 0
            while true {
                index += 1
                let event = AuthEvent(
                    signal: .userLoginFailed, sender: "stress",
                    user: "user\(appender)",
                    request: ["remote_addr": .string("192.0.2.\(index % 250)")],
                    credentials: ["username": .string("user\(appender)"), "password": .string("secret\(index)")],
                    id: index % 10 == 0 ? "a\(appender)-\(index)" : nil)
                let redacted = redactor.redact(event, peer: PeerCredentials(uid: 0, gid: 0, pid: 1))
                do {
                    let appended = try await store.append(redacted)
                    // One unbuffered write per acknowledgement: nothing is printed early or lost late.
                    FileHandle.standardOutput.write(Data("\(appended.seq)\n".utf8))
                } catch {
                    FileHandle.standardError.write(Data("append failed: \(error)\n".utf8))
                    exit(1)
                }
            }
        }
    }
}
