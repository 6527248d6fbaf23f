import AuthSignalClient
import AuthSignalProtocol
import Foundation
import TestSupport
import Testing

/// The `stats` answer in Prometheus's text format, in process; `promtool check metrics` reads
/// what it writes when it is installed (scripts/test installs it), as node_exporter would.
@Suite struct PrometheusExpositionTests {
    static let log = StatsAnswer.Log(
        records: [.userLoggedIn: 3, .userLoginFailed: 2], firstSeq: 1, lastSeq: 5, databaseBytes: 8192, headSeq: 5,
        headHash: Array(repeating: 0xAB, count: 32), logID: "log-1")

    static func service(mode: String = "hmac") -> StatsAnswer.Service {
        var latency = LatencyHistogram()
        for milliseconds in [1, 1, 3, 40, 900] { latency.record(.milliseconds(milliseconds)) }
        return StatsAnswer.Service(
            committedTransactions: 4, commitLatency: latency, stored: [.userLoggedIn: 3, .userLoginFailed: 2],
            connections: 2, followers: 1, uptimeSeconds: 61, redactionMode: mode, refused: [.forbidden: 7],
            spool: StatsAnswer.Spool(directory: "/var/spool/authsignal", stored: 1, refused: 0, pending: 0),
            journal: StatsAnswer.Journal(sent: 5, dropped: 0, failed: 1, queued: 0, anchors: 2, anchorFailures: 0),
            trusted: .rootOnly, logLinesDropped: 0)
    }

    /// The samples of `text` by name and labels, and the metrics in order of their TYPE lines.
    static func parse(_ text: String) -> (samples: [String: Double], types: [String: String]) {
        var samples: [String: Double] = [:]
        var types: [String: String] = [:]
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                types[String(parts[2])] = String(parts[3])
            } else if !line.hasPrefix("#"), let space = line.lastIndex(of: " ") {
                samples[String(line[..<space])] = Double(line[line.index(after: space)...])
            }
        }
        return (samples, types)
    }

    @Test func everyCountIsASampleOfADeclaredMetric() throws {
        let text = PrometheusExposition.render(StatsAnswer(log: Self.log, service: Self.service()))
        let (samples, types) = Self.parse(text)
        #expect(samples["authsignal_up"] == 1)
        #expect(samples[#"authsignal_log_records{signal="user_logged_in"}"#] == 3)
        #expect(samples[#"authsignal_log_records{signal="user_logged_out"}"#] == 0)
        #expect(samples[#"authsignal_requests_refused_total{code="forbidden"}"#] == 7)
        #expect(samples[#"authsignal_requests_refused_total{code="invalid_json"}"#] == 0)
        #expect(samples["authsignal_journal_entries_failed_total"] == 1)
        #expect(types["authsignal_commit_duration_seconds"] == "histogram")
        #expect(types["authsignal_records_total"] == "counter" && types["authsignal_connections"] == "gauge")
        // Every sample belongs to a metric whose HELP and TYPE came first.
        var declared: Set<String> = []
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") { declared.insert(String(line.split(separator: " ")[2])) }
            if line.hasPrefix("#") { continue }
            let name = String(line.prefix { $0 != "{" && $0 != " " })
            let base = ["_bucket", "_sum", "_count"].reduce(name) { name, suffix in
                name.hasSuffix(suffix) && declared.contains(String(name.dropLast(suffix.count)))
                    ? String(name.dropLast(suffix.count)) : name
            }
            #expect(declared.contains(base), "\(line) comes before its TYPE line")
        }
    }

    @Test func theCommitHistogramIsCumulativeAndEndsAtInfinity() {
        let text = PrometheusExposition.render(StatsAnswer(log: Self.log, service: Self.service()))
        let buckets = text.split(separator: "\n").filter { $0.hasPrefix("authsignal_commit_duration_seconds_bucket") }
        let counts = buckets.compactMap { Double($0.split(separator: " ").last ?? "") }
        #expect(counts == counts.sorted(), "buckets are not cumulative: \(buckets)")
        #expect(buckets.last?.contains(#"le="+Inf""#) == true)
        let (samples, _) = Self.parse(text)
        #expect(counts.last == 5 && samples["authsignal_commit_duration_seconds_count"] == 5)
        let sum = samples["authsignal_commit_duration_seconds_sum"] ?? 0
        #expect(abs(sum - 0.945) < 1e-9)
    }

    @Test func aLabelValueIsEscapedAndAnOfflineLogHasOnlyItsGauges() {
        let hostile = PrometheusExposition.render(StatsAnswer(log: Self.log, service: Self.service(mode: "a\"b\\c\nd")))
        #expect(hostile.contains(#"authsignal_redaction_mode{mode="a\"b\\c\nd"} 1"#))
        let offline = Self.parse(PrometheusExposition.render(StatsAnswer(log: Self.log, service: nil)))
        #expect(offline.samples["authsignal_up"] == nil && offline.samples["authsignal_chain_head_seq"] == 5)
        #expect(
            Set(offline.types.keys) == ["authsignal_log_records", "authsignal_log_bytes", "authsignal_chain_head_seq"])
        #expect(PrometheusExposition.down().hasSuffix("authsignal_up 0\n"))
    }

    @Test func promtoolAcceptsWhatIsWritten() throws {
        let promtool = "/usr/bin/promtool"
        guard FileManager.default.isExecutableFile(atPath: promtool) else {
            try Test.cancel("promtool is not installed (scripts/test installs it)")
        }
        let directory = try TemporaryDirectory()
        for (name, text) in [
            ("up", PrometheusExposition.render(StatsAnswer(log: Self.log, service: Self.service()))),
            ("offline", PrometheusExposition.render(StatsAnswer(log: Self.log, service: nil))),
            ("down", PrometheusExposition.down()),
        ] {
            let file = directory.file("\(name).prom")
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            let check = try runCommand("/bin/sh", ["-c", "\(promtool) check metrics < \"$0\"", file])
            #expect(check.status == 0 && check.output.isEmpty, "promtool on \(name): \(check.output)")
        }
    }

    static let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    @Test("the shipped alert rules load, pass their promtool tests, and name only metrics that exist")
    func alertRules() throws {
        let promtool = "/usr/bin/promtool"
        guard FileManager.default.isExecutableFile(atPath: promtool) else {
            try Test.cancel("promtool is not installed (scripts/test installs it)")
        }
        let rules = Self.checkout + "/etc/prometheus/authsignal-rules.yml"
        let check = try runCommand(promtool, ["check", "rules", rules])
        #expect(check.status == 0 && check.output.contains("SUCCESS: 7 rules found"), "\(check.output)")
        let tests = try runCommand(
            "/bin/sh",
            [
                "-c", "cd \"$0\" && \(promtool) test rules authsignal-rules.test.yml",
                Self.checkout + "/Tests/Prometheus",
            ])
        #expect(tests.status == 0 && tests.output.contains("SUCCESS"), "\(tests.output)")
        // A metric renamed in the exposition would leave a rule that never fires.
        let written = PrometheusExposition.render(StatsAnswer(log: Self.log, service: Self.service()))
        let text = try String(contentsOfFile: rules, encoding: .utf8)
        let named = Set(
            text.matches(of: /authsignal_[a-z_]+/).map { String($0.output) }.filter { !$0.hasSuffix("_") })
        #expect(named.count == 6, "\(named.sorted())")
        for metric in named {
            #expect(written.contains("\n" + metric + " ") || written.contains("\n" + metric + "{"), "\(metric)")
        }
    }
}
