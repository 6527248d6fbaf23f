package import AuthSignalProtocol

/// The daemon's `stats` answer in the Prometheus text exposition format (version 0.0.4), as
/// node_exporter's textfile collector and `promtool check metrics` read it. docs/metrics.md lists
/// every metric.
///
/// Written by hand rather than through a metrics registry: the counts are the daemon's, taken in
/// another process, and a registry (swift-prometheus's among them) only records observations made
/// in its own.
package enum PrometheusExposition {
    /// Every metric of `answer`: from a daemon, `authsignal_up 1` and its counters too; from an
    /// audit log file read without one, the log's gauges only.
    package static func render(_ answer: StatsAnswer) -> String {
        var text = Text()
        if answer.service != nil { text.single("authsignal_up", .gauge, upHelp, 1) }
        let log = answer.log
        text.perSignal(
            "authsignal_log_records", .gauge, "Records in the audit log now, by signal (retention lowers it).",
            log.records)
        text.single(
            "authsignal_log_bytes", .gauge, "Size of the audit log's database file and write-ahead log.",
            Double(log.databaseBytes))
        text.single(
            "authsignal_chain_head_seq", .gauge, "The seq of the newest record in the hash chain (0: empty).",
            Double(log.headSeq))
        guard let service = answer.service else { return text.output }

        text.perSignal(
            "authsignal_records_total", .counter, "Records stored since the daemon started, by signal.", service.stored)
        text.single(
            "authsignal_commits_total", .counter, "Transactions the writer committed since the daemon started.",
            Double(service.committedTransactions))
        text.histogram(
            "authsignal_commit_duration_seconds",
            "How long the writer's transactions took, from BEGIN to the fsync of COMMIT.", service.commitLatency)
        text.labelled(
            "authsignal_requests_refused_total", .counter, "Requests answered with an error, by error code.",
            label: "code", ErrorCode.allCases.map { ($0.rawValue, Double(service.refused[$0] ?? 0)) })
        text.single("authsignal_connections", .gauge, "Client connections open now.", Double(service.connections))
        text.single("authsignal_follows", .gauge, "Follow streams open now.", Double(service.followers))
        text.single(
            "authsignal_uptime_seconds", .gauge, "Seconds since the daemon started.", Double(service.uptimeSeconds))
        text.single(
            "authsignal_log_lines_dropped_total", .counter,
            "The daemon's log lines journald could not take at once (stopped or frozen), dropped since start.",
            Double(service.logLinesDropped))
        text.labelled(
            "authsignal_redaction_mode", .gauge, "The [Redaction] Mode in effect (the sample with value 1).",
            label: "mode", [(service.redactionMode, 1)])

        let spool = service.spool
        text.single(
            "authsignal_spool_stored_total", .counter, "Events from the PAM hook's spool stored since start.",
            Double(spool.stored))
        text.single(
            "authsignal_spool_refused_total", .counter, "Spooled events refused (moved to refused/) since start.",
            Double(spool.refused))
        text.single("authsignal_spool_pending", .gauge, "Spooled events waiting to be stored.", Double(spool.pending))

        text.single(
            "authsignal_journal_enabled", .gauge,
            "Whether records are also written to the journal ([Journal] Enabled).",
            service.journal == nil ? 0 : 1)
        if let journal = service.journal {
            let counters: [(String, String, Int)] = [
                ("authsignal_journal_entries_sent_total", "Journal entries written since start.", journal.sent),
                (
                    "authsignal_journal_entries_failed_total",
                    "Attempts to write a journal entry that journald refused since start (each is retried).",
                    journal.failed
                ),
                (
                    "authsignal_journal_entries_dropped_total",
                    "Records the journal never got since start: pruned from the audit log before it caught up.",
                    journal.dropped
                ),
                (
                    "authsignal_journal_entries_from_log_total",
                    "Journal entries sent from the audit log since start, catching up after journald refused or "
                        + "the queue was full.",
                    journal.fromLog
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
            for (name, help, value) in counters { text.single(name, .counter, help, Double(value)) }
            text.single(
                "authsignal_journal_queue_entries", .gauge, "Journal entries waiting to be written.",
                Double(journal.queued))
            text.single(
                "authsignal_journal_lag_records", .gauge, "Records committed that the journal has not got yet.",
                Double(journal.lag))
        }
        return text.output
    }

    /// What to write when the daemon did not answer: `authsignal_up 0`, so that an alert fires
    /// instead of the last good file being read forever.
    package static func down() -> String {
        var text = Text()
        text.single("authsignal_up", .gauge, upHelp, 0)
        return text.output
    }

    private static let upHelp = "Whether authsignald answered the stats request (1) or not (0)."

    /// A sample value as Prometheus reads it: integers without a fraction.
    static func number(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }

    private enum Kind: String { case counter, gauge, histogram }

    /// The exposition under construction: each metric its HELP and TYPE lines, then its samples.
    private struct Text {
        var output = ""

        mutating func metric(_ name: String, _ kind: Kind, _ help: String) {
            output += "# HELP \(name) \(escapeHelp(help))\n# TYPE \(name) \(kind.rawValue)\n"
        }

        /// A metric of one sample, without labels.
        mutating func single(_ name: String, _ kind: Kind, _ help: String, _ value: Double) {
            metric(name, kind, help)
            sample(name, value: value)
        }

        /// A metric of one sample per value of `label`.
        mutating func labelled(
            _ name: String, _ kind: Kind, _ help: String, label: String, _ samples: [(String, Double)]
        ) {
            metric(name, kind, help)
            for (value, count) in samples { sample(name, [label: value], value: count) }
        }

        /// A metric of one sample per signal, every signal present (0 when uncounted).
        mutating func perSignal(_ name: String, _ kind: Kind, _ help: String, _ counts: [AuthSignal: Int]) {
            labelled(
                name, kind, help, label: "signal", AuthSignal.allCases.map { ($0.rawValue, Double(counts[$0] ?? 0)) })
        }

        /// A histogram: cumulative `_bucket` samples ending with `le="+Inf"`, then `_sum` and `_count`.
        mutating func histogram(_ name: String, _ help: String, _ histogram: LatencyHistogram) {
            metric(name, .histogram, help)
            for bucket in histogram.cumulative {
                sample(
                    name + "_bucket", ["le": bucket.upperBound.map(PrometheusExposition.number) ?? "+Inf"],
                    value: Double(bucket.count))
            }
            sample(name + "_sum", value: histogram.sumSeconds)
            sample(name + "_count", value: Double(histogram.count))
        }

        mutating func sample(_ name: String, _ labels: [String: String] = [:], value: Double) {
            output += name
            if !labels.isEmpty {
                output +=
                    "{"
                    + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\(escapeLabel($0.value))\"" }
                    .joined(separator: ",") + "}"
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
