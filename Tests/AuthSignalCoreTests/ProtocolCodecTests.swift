import AuthSignalCore
import AuthSignalProtocol
import Foundation
import Testing

@Suite struct JSONParserTests {
    @Test func parsesEveryKindOfValue() throws {
        let value = try JSONParser.parse(
            Array(#" {"a":[1,-2.5e3,"x\u00e9\n",null,true,false,{}],"b":{"c":9223372036854775807}} "#.utf8))
        #expect(
            value
                == .object([
                    "a": .array([
                        .int(1), .double(-2500), .string("xé\n"), .null, .bool(true), .bool(false), .object([:]),
                    ]),
                    "b": .object(["c": .int(Int64.max)]),
                ]))
        #expect(try JSONParser.parse(Array(#""\ud83d\ude00""#.utf8)) == .string("😀"))
        #expect(try JSONParser.parse(Array("18446744073709551616".utf8)) == .double(18_446_744_073_709_551_616))
    }

    @Test(arguments: [
        (#"{"a":1,"a":2}"#, "duplicate object key"),
        (#"{"a":"\u0000"}"#, "NUL character"),
        ("{\"a\":\"\0\"}", "NUL byte"),
        (#"[1,]"#, "unexpected character"),
        (#"{"a":1} x"#, "unexpected data after the JSON value"),
        (#"1e400"#, "number out of range"),
        (#"01"#, "unexpected data after the JSON value"),
        (#""\ud800""#, "unpaired surrogate"),
        ("\"tab\t\"", "unescaped control character in a string"),
        (#"{"a" 1}"#, "expected ':'"),
    ])
    func rejects(_ text: String, _ reason: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(Array(text.utf8)) }
        do {
            _ = try JSONParser.parse(Array(text.utf8))
        } catch {
            #expect(error.reason == reason)
        }
    }

    @Test func rejectsInvalidUTF8AndDeepNestingWithoutQuotingInput() throws {
        let invalid: [UInt8] = Array(#"{"password":"hunter"#.utf8) + [0xFF] + Array(#""}"#.utf8)
        do {
            _ = try JSONParser.parse(invalid)
            Issue.record("accepted invalid UTF-8")
        } catch {
            #expect(error.reason == "invalid UTF-8")
            #expect(!error.description.contains("hunter"))
        }
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(Array(deep.utf8)) }
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(throws: Never.self) { try JSONParser.parse(Array(ok.utf8)) }
    }
}

@Suite struct ProtocolDecodeTests {
    @Test func decodesEmitExactlyAsDesignSaysAndKeepsSecretsOutOfErrors() throws {
        let line = #"""
            {"op":"emit","signal":"user_login_failed","sender":"sshd","user":"alice",
             "request":{"remote_addr":"203.0.113.9","remote_port":52144,"service":"sshd","tty":"ssh"},
             "credentials":{"username":"alice","password":"hunter2"},
             "time":"2026-11-24T19:00:00.123Z","id":"9f1c2a"}
            """#.replacingOccurrences(of: "\n", with: "")
        guard case .emit(let event) = try ProtocolRequest.decode(Array(line.utf8)) else {
            Issue.record("not an emit")
            return
        }
        #expect(event.signal == .userLoginFailed)
        #expect(event.sender == "sshd")
        #expect(event.user == "alice")
        #expect(event.request?["remote_port"] == .int(52144))
        #expect(event.credentials?["password"] == .string("hunter2"))
        #expect(event.time == RFC3339.parse("2026-11-24T19:00:00.123Z"))
        #expect(event.id == "9f1c2a")

        do {
            _ = try ProtocolRequest.decode(
                Array(#"{"op":"emit","signal":"user_logged_in","sender":"s","user":"u","credentials":"hunter2"}"#.utf8))
        } catch {
            #expect(error.code == .invalidRequest)
            #expect(!error.message.contains("hunter2"))
        }
    }

    @Test func decodesQueriesWithShortSignalNames() throws {
        let request = try ProtocolRequest.decode(
            Array(
                #"{"op":"query","signal":"failed","since":"2026-11-24T00:00:00+01:00","limit":5,"order":"desc","after_seq":3}"#
                    .utf8))
        guard case .query(let query) = request else {
            Issue.record("not a query")
            return
        }
        #expect(query.signal == .userLoginFailed)
        #expect(query.since == RFC3339.parse("2026-11-23T23:00:00Z"))
        #expect(query.limit == 5)
        #expect(query.order == .descending)
        #expect(query.afterSeq == 3)
        #expect(throws: ProtocolError.self) {
            try ProtocolRequest.decode(Array(#"{"op":"follow","order":"desc"}"#.utf8))
        }
        #expect(throws: ProtocolError.self) { try ProtocolRequest.decode(Array(#"{"op":"follow","limit":3}"#.utf8)) }
    }

    @Test func responsesAreOneSortedLine() {
        #expect(String(decoding: ProtocolResponse.ok(["seq": .int(42)]), as: UTF8.self) == "{\"ok\":true,\"seq\":42}\n")
        let error = ProtocolResponse.error(ProtocolError(.tooLarge, "line\nbreak"))
        #expect(
            String(decoding: error, as: UTF8.self)
                == "{\"error\":{\"code\":\"too_large\",\"message\":\"line\\nbreak\"},\"ok\":false}\n")
    }

    @Test func rfc3339RoundTripsAndRejectsNonsense() throws {
        let date = try #require(RFC3339.parse("2024-02-29T23:59:59.999999Z"))
        #expect(RFC3339.format(date) == "2024-02-29T23:59:59.999999Z")
        #expect(RFC3339.format(microseconds: 0) == "1970-01-01T00:00:00.000000Z")
        #expect(RFC3339.format(microseconds: -1) == "1969-12-31T23:59:59.999999Z")
        #expect(RFC3339.parse("2026-11-24T20:00:00+01:00") == RFC3339.parse("2026-11-24T19:00:00Z"))
        // An offset that carries a time out of years 0000–9999 is refused, not printed malformed.
        #expect(RFC3339.parse("0000-01-01T00:00:00+00:01") == nil)
        #expect(RFC3339.parse("9999-12-31T23:59:00-00:01") == nil)
        let first = try #require(RFC3339.parse("0000-01-01T00:00:00Z"))
        #expect(RFC3339.format(first) == "0000-01-01T00:00:00.000000Z")
        for bad in ["2023-02-29T00:00:00Z", "2026-11-24", "2026-11-24T19:00:00", "2026-13-01T00:00:00Z", "yesterday"] {
            #expect(RFC3339.parse(bad) == nil, "\(bad)")
        }
    }
}

@Suite struct ConfigTests {
    @Test func defaultsMatchTheDocumentedFileKeyForKey() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("etc/authsignald.conf")
        let text = try String(contentsOf: url, encoding: .utf8)
        let defaults = DaemonConfig().settings
        var documented: [String: String] = [:]
        var section = ""
        for line in text.split(separator: "\n") {
            if line.hasPrefix("[") { section = String(line.dropFirst().dropLast()) }
            if line.hasPrefix("#"), !line.hasPrefix("# "), let equals = line.firstIndex(of: "=") {
                documented["\(section).\(line[line.index(after: line.startIndex)..<equals])"] = String(
                    line[line.index(after: equals)...])
            }
        }
        #expect(Set(documented.keys) == Set(DaemonConfig.keyNames))
        for key in DaemonConfig.keyNames {
            var value = try #require(documented[key], "etc/authsignald.conf does not document \(key)")
            if key == "Redaction.Patterns" { value = Redactor.defaultPatterns.joined(separator: " ") }
            #expect(value == defaults[key], "\(key): documented \(value), default \(defaults[key] ?? "")")
        }
        // And uncommenting the whole file gives the defaults back.
        var config = DaemonConfig()
        var problems: [ConfigProblem] = []
        let uncommented = text.split(separator: "\n").map { line in
            line.hasPrefix("#") && line.contains("=") && !line.hasPrefix("# ") ? String(line.dropFirst()) : String(line)
        }.joined(separator: "\n")
        config.apply(uncommented, file: "/etc/authsignald.conf", problems: &problems)
        #expect(problems.isEmpty, "\(problems)")
        #expect(config == DaemonConfig())
    }

    @Test func reportsEveryProblemWithFileAndLine() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("conf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(
            at: directory.appendingPathComponent("a.conf.d"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let main = directory.appendingPathComponent("a.conf")
        try """
        [Socket]
        Mode=0999
        Colour=blue
        [Store]
        Path=audit.db   # relative to this file
        MaxAgeDays=-1
        [Nope]
        X=1
        """.write(to: main, atomically: true, encoding: .utf8)
        try "[Journal]\nEnabled=perhaps\n".write(
            to: directory.appendingPathComponent("a.conf.d/10-journal.conf"), atomically: true, encoding: .utf8)
        do {
            _ = try DaemonConfig.load(path: main.path, required: true)
            Issue.record("accepted a broken configuration")
        } catch {
            let lines = error.problems.map(\.description)
            #expect(lines.count == 6, "\(lines)")
            #expect(lines.contains { $0 == "\(main.path):8: assignment outside a known section" })
            #expect(lines.contains { $0.hasPrefix("\(main.path):2: Socket.Mode") })
            #expect(
                lines.contains { $0.hasPrefix("\(main.path):3: unknown key Colour in [Socket]; expected one of Path,") }
            )
            #expect(lines.contains { $0.hasPrefix("\(main.path):6: Store.MaxAgeDays") })
            #expect(lines.contains { $0.hasPrefix("\(main.path):7: unknown section [Nope]") })
            #expect(lines.contains { $0.hasPrefix(directory.path + "/a.conf.d/10-journal.conf:2: Journal.Enabled") })
        }
    }

    @Test func aReloadKeepsRestartOnlyKeysAndAppliesTheRest() {
        let running = DaemonConfig()
        var reloaded = DaemonConfig()
        reloaded.socketPath = "/run/elsewhere.sock"
        reloaded.socketMode = 0o600
        reloaded.storePath = "/srv/audit.db"
        reloaded.cacheMiB = 64
        reloaded.emitUsers = ["alice"]
        reloaded.redactionMode = .mask
        let (applied, deferred) = reloaded.keepingRestartOnlySettings(of: running)
        #expect(deferred == ["Socket.Path", "Socket.Mode", "Store.Path", "Store.CacheMiB"])
        #expect(applied.socketPath == running.socketPath)
        #expect(applied.socketMode == running.socketMode)
        #expect(applied.storePath == running.storePath)
        #expect(applied.cacheMiB == running.cacheMiB)
        #expect(applied.emitUsers == ["alice"])
        #expect(applied.redactionMode == .mask)
        #expect(DaemonConfig.restartOnlySettings.isSubset(of: Set(DaemonConfig.keyNames)))
    }

    @Test func dropInsOverrideInNameOrderAndRelativePathsResolve() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("conf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(
            at: directory.appendingPathComponent("d.conf.d"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "[Store]\nPath=state/audit.db\n[Access]\nEmitGroups=wheel\n".write(
            to: directory.appendingPathComponent("d.conf"), atomically: true, encoding: .utf8)
        try "[Access]\nEmitGroups=a b\n".write(
            to: directory.appendingPathComponent("d.conf.d/10.conf"), atomically: true, encoding: .utf8)
        try "[Access]\nEmitGroups=c\nReadGroups=\n".write(
            to: directory.appendingPathComponent("d.conf.d/20.conf"), atomically: true, encoding: .utf8)
        try "[Access]\nEmitGroups=ignored\n".write(
            to: directory.appendingPathComponent("d.conf.d/30.txt"), atomically: true, encoding: .utf8)
        let config = try DaemonConfig.load(path: directory.appendingPathComponent("d.conf").path, required: true)
        #expect(config.emitGroups == ["c"])
        #expect(config.readGroups == [])
        #expect(config.storePath == directory.path + "/state/audit.db")
        #expect(throws: ConfigError.self) {
            try DaemonConfig.load(path: directory.path + "/missing.conf", required: true)
        }
        #expect(try DaemonConfig.load(path: directory.path + "/missing.conf", required: false) == DaemonConfig())
    }
}
