public import AuthSignalCore

/// The daemon's `stats` answer in the Prometheus text exposition format (version 0.0.4), as
/// node_exporter's textfile collector and `promtool check metrics` read it. docs/metrics.md lists
/// every metric.
///
/// Written by hand rather than through a metrics registry: the counts are the daemon's, taken in
/// another process, and a registry (swift-prometheus's among them) only records observations made
/// in its own.
public enum PrometheusExposition {
    /// Every metric of `answer`: from a daemon, `authsignal_up 1` and its counters too; from an
    /// audit log file read without one, the log's gauges only.
    public static func render(_ answer: StatsAnswer) -> String {
        var text = Text()
        if answer.service != nil {
            text.metric("authsignal_up", .gauge, upHelp)
            text.sample("authsignal_up", value: 1)
        }
        let log = answer.log
        text.metric("authsignal_log_records", .gauge, "Records in the audit log now, by signal (retention lowers it).")
        for signal in AuthSignal.allCases {
            text.sample("authsignal_log_records", ["signal": signal.rawValue], value: Double(log.records[signal] ?? 0))
        }
        text.metric("authsignal_log_bytes", .gauge, "Size of the audit log's database file and write-ahead log.")
        text.sample("authsignal_log_bytes", value: Double(log.databaseBytes))
        text.metric("authsignal_chain_head_seq", .gauge, "The seq of the newest record in the hash chain (0: empty).")
        text.sample("authsignal_chain_head_seq", value: Double(log.headSeq))
        guard let service = answer.service else { return text.output }

        text.metric("authsignal_records_total", .counter, "Records stored since the daemon started, by signal.")
        for signal in AuthSignal.allCases {
            text.sample(
                "authsignal_records_total", ["signal": signal.rawValue], value: Double(service.stored[signal] ?? 0))
        }
        text.metric("authsignal_commits_total", .counter, "Transactions the writer committed since the daemon started.")
        text.sample("authsignal_commits_total", value: Double(service.committedTransactions))
        histogram(
            &text, "authsignal_commit_duration_seconds",
            "How long the writer's transactions took, from BEGIN to the fsync of COMMIT.", service.commitLatency)
        text.metric("authsignal_requests_refused_total", .counter, "Requests answered with an error, by error code.")
        for code in ErrorCode.allCases {
            text.sample(
                "authsignal_requests_refused_total", ["code": code.rawValue], value: Double(service.refused[code] ?? 0))
        }
        text.metric("authsignal_connections", .gauge, "Client connections open now.")
        text.sample("authsignal_connections", value: Double(service.connections))
        text.metric("authsignal_follows", .gauge, "Follow streams open now.")
        text.sample("authsignal_follows", value: Double(service.followers))
        text.metric("authsignal_uptime_seconds", .gauge, "Seconds since the daemon started.")
        text.sample("authsignal_uptime_seconds", value: Double(service.uptimeSeconds))
        text.metric("authsignal_redaction_mode", .gauge, "The [Redaction] Mode in effect (the sample with value 1).")
        text.sample("authsignal_redaction_mode", ["mode": service.redactionMode], value: 1)

        let spool = service.spool
        text.metric("authsignal_spool_stored_total", .counter, "Events from the PAM hook's spool stored since start.")
        text.sample("authsignal_spool_stored_total", value: Double(spool.stored))
        text.metric(
            "authsignal_spool_refused_total", .counter, "Spooled events refused (moved to refused/) since start.")
        text.sample("authsignal_spool_refused_total", value: Double(spool.refused))
        text.metric("authsignal_spool_pending", .gauge, "Spooled events waiting to be stored.")
        text.sample("authsignal_spool_pending", value: Double(spool.pending))

        text.metric(
            "authsignal_journal_enabled", .gauge, "Whether records are also written to the journal ([Journal] Enabled)."
        )
        text.sample("authsignal_journal_enabled", value: service.journal == nil ? 0 : 1)
        if let journal = service.journal {
            let counters: [(String, String, Int)] = [
                ("authsignal_journal_entries_sent_total", "Journal entries written since start.", journal.sent),
                (
                    "authsignal_journal_entries_failed_total", "Journal entries journald refused since start.",
                    journal.failed
                ),
                (
                    "authsignal_journal_entries_dropped_total",
                    "Journal entries dropped since start because the queue was full.", journal.dropped
                ),
                (
                    "authsignal_journal_anchors_total", "Chain anchors written to the journal since start.",
                    journal.anchors
                ),
                (
                    "authsignal_journal_anchor_failures_total", "Chain anchors journald refused since start.",
                    journal.anchorFailures
                ),
            ]
            for (name, help, value) in counters {
                text.metric(name, .counter, help)
                text.sample(name, value: Double(value))
            }
            text.metric("authsignal_journal_queue_entries", .gauge, "Journal entries waiting to be written.")
            text.sample("authsignal_journal_queue_entries", value: Double(journal.queued))
        }
        return text.output
    }

    /// What to write when the daemon did not answer: `authsignal_up 0`, so that an alert fires
    /// instead of the last good file being read forever.
    public static func down() -> String {
        var text = Text()
        text.metric("authsignal_up", .gauge, upHelp)
        text.sample("authsignal_up", value: 0)
        return text.output
    }

    private static let upHelp = "Whether authsignald answered the stats request (1) or not (0)."

    private static func histogram(_ text: inout Text, _ name: String, _ help: String, _ histogram: LatencyHistogram) {
        text.metric(name, .histogram, help)
        for bucket in histogram.cumulative {
            text.sample(name + "_bucket", ["le": bucket.upperBound.map(number) ?? "+Inf"], value: Double(bucket.count))
        }
        text.sample(name + "_sum", value: histogram.sumSeconds)
        text.sample(name + "_count", value: Double(histogram.count))
    }

    /// A sample value as Prometheus reads it: integers without a fraction.
    static func number(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }

    private enum Kind: String { case counter, gauge, histogram }

    /// The exposition under construction.
    private struct Text {
        var output = ""

        mutating func metric(_ name: String, _ kind: Kind, _ help: String) {
            output += "# HELP \(name) \(escapeHelp(help))\n# TYPE \(name) \(kind.rawValue)\n"
        }

        mutating func sample(_ name: String, _ labels: KeyValuePairs<String, String> = [:], value: Double) {
            output += name
            if labels.count > 0 {
                output += "{" + labels.map { "\($0.key)=\"\(escapeLabel($0.value))\"" }.joined(separator: ",") + "}"
            }
            output += " \(PrometheusExposition.number(value))\n"
        }

        /// HELP text: backslash and newline escaped.
        private func escapeHelp(_ text: String) -> String {
            text.replacing("\\", with: "\\\\").replacing("\n", with: "\\n")
        }

        /// A label value: backslash, double quote and newline escaped.
        private func escapeLabel(_ text: String) -> String {
            escapeHelp(text).replacing("\"", with: "\\\"")
        }
    }
}
