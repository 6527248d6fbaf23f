// A small program for the systemd integration tests and scripts.
//
//   systemd-probe serve [NAME]     Finds the listening Unix socket passed by socket activation
//                                  (named NAME, if given), accepts one connection and answers
//                                  each line with "fd=<fd> name=<name> peer-uid=<uid> <line>".
//   systemd-probe journal-send     Sends one test entry; prints "sent" or the error, and exits 1
//                                  on error (for the journal-absent test).
//   systemd-probe notify           Sends the daemon's notifications through Notifier (sd_notify)
//                                  and prints "sent=" whether each arrived, then "watchdog=" the
//                                  interval it reads from WATCHDOG_USEC/WATCHDOG_PID.
//
// The tests run these in a child with the environment each needs, never changing their own:
// a setenv racing another test's spawn crashes the test process.
import CSystemd
import Foundation
import Systemd

let arguments = CommandLine.arguments
switch arguments.dropFirst().first {
case "serve":
    serve(named: arguments.count > 2 ? arguments[2] : nil)
case "journal-send":
    var entry = JournalEntry()
    entry.append(try JournalFieldName("MESSAGE"), "systemd-probe test entry")
    entry.append(try JournalFieldName("SYSLOG_IDENTIFIER"), "systemd-probe")
    do {
        try JournalWriter().send(entry)
        print("sent")
    } catch {
        print("\(error)")
        exit(1)
    }
case "notify":
    let notifier = Notifier()
    let sent = [
        notifier.ready(status: "serving\non two lines"), notifier.status("12 events"), notifier.reloading(),
        notifier.stopping(), notifier.failed(errno: EIO),
        notifier.extendStart(by: .seconds(60), status: "migrating\nstill"),
    ]
    print("sent=" + sent.map(String.init).joined(separator: ","))
    print("watchdog=" + (notifier.watchdogInterval.map { "\($0)" } ?? "none"))
default:
    FileHandle.standardError.write(Data("usage: systemd-probe serve [NAME] | journal-send | notify\n".utf8))
    exit(2)
}

func serve(named name: String?) {
    let sockets = ListenSockets.take()
    // Descriptors inherited by accident (another process's pipes, spawned at the same moment)
    // would keep those pipes open for as long as this process waits: close everything else.
    let passed = Set(sockets.map(\.fd))
    for fd in Int32(3)..<1024 where !passed.contains(fd) { close(fd) }
    guard let socket = ListenSockets.unixStreamSocket(named: name, in: sockets) else {
        print("no listening unix stream socket among \(sockets)")
        exit(1)
    }
    let client = accept(socket.fd, nil, nil)
    guard client >= 0 else { exit(1) }
    let peer = peerUID(client)
    defer { close(client) }
    var pending = Data()
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = read(client, &buffer, buffer.count)
        if count <= 0 { return }
        pending.append(contentsOf: buffer[0..<count])
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
            pending.removeSubrange(pending.startIndex...newline)
            let answer =
                "fd=\(socket.fd) name=\(socket.name ?? "-") peer-uid=\(peer.map(String.init) ?? "?") \(line)\n"
            _ = answer.withCString { write(client, $0, strlen($0)) }
        }
    }
}

/// The uid the kernel recorded for the peer of a connected Unix socket (SO_PEERCRED).
func peerUID(_ fd: Int32) -> uid_t? {
    var credentials = authsignal_ucred()
    var length = socklen_t(MemoryLayout<authsignal_ucred>.size)
    guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 else { return nil }
    return credentials.uid
}
