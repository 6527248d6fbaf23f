import AuthSignalProtocol
import Foundation

/// An ``EvidenceReport`` as one self-contained HTML file: inline CSS and inline SVG charts, no
/// script, no font, image or style from anywhere else, so it opens offline and a browser makes
/// no request for it. Every value from a record is escaped.
package enum EvidenceHTML {
    /// The page.
    package static func render(_ report: EvidenceReport) -> String {
        var page = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
            <title>authsignal evidence: \(escape(report.host))</title>
            <style>\(style)</style></head><body>
            <header><h1>Authentication audit evidence</h1>
            <p>Host <b>\(escape(report.host))</b>, records stored from \(time(report.since)) to \(time(report.until)).
            Generated \(time(report.generated)) by authsignal \(escape(report.release)).</p>
            <p class="summary">\(summary(report))</p></header>

            """
        for section in EvidenceReport.Section.allCases {
            page += "<section id=\"\(section.rawValue)\"><h2>\(escape(section.title))</h2>"
            page += "<p class=\"controls\">" + section.controls.map { "<span>\(escape($0))</span>" }.joined() + "</p>"
            page += body(section, report) + "</section>\n"
        }
        return page + "<footer>authsignal evidence report: the figures come from the tamper-evident audit log "
            + "(docs/evidence.md explains each).</footer></body></html>\n"
    }

    private static func summary(_ report: EvidenceReport) -> String {
        let count = { (signal: AuthSignal) in report.perSignal[signal] ?? 0 }
        var parts = [
            "\(count(.userLoggedIn)) logins", "\(count(.userLoginFailed)) failed logins",
            "\(count(.userLoggedOut)) logouts",
        ]
        if let chain = report.chain { parts.append(chain.intact ? "chain intact" : "CHAIN TAMPERED") }
        return parts.joined(separator: " · ")
    }

    private static func body(_ section: EvidenceReport.Section, _ report: EvidenceReport) -> String {
        switch section {
        case .activity:
            let days = report.dailyCounts
            return chart(days.map { ($0.date, $0.logins) }, colour: "#2e7d32", label: "logins per day")
                + chart(days.map { ($0.date, $0.logouts) }, colour: "#607d8b", label: "logouts per day")
        case .failures:
            let days = report.dailyCounts
            return chart(days.map { ($0.date, $0.failures) }, colour: "#c62828", label: "failed logins per day")
                + "<div class=\"columns\">"
                + bars(EvidenceReport.top(report.failuresFrom), heading: "Top sources", colour: "#c62828")
                + bars(EvidenceReport.top(report.failuresAgainst), heading: "Top accounts", colour: "#ef6c00")
                + "</div>"
        case .integrity:
            guard let chain = report.chain else { return "<p>Not verified for this report (--no-verify).</p>" }
            var rows = [
                ("Hash chain", chain.intact ? "intact" : "TAMPERED: " + (chain.problem ?? "")),
                ("Records verified", String(chain.checked)), ("Log id", chain.logID ?? "-"),
                ("Journal anchors of this log", String(chain.anchorsFound)),
            ]
            if let latest = chain.latestAnchor {
                rows.append(("Newest anchor", "record \(latest); the log agrees with it"))
            }
            if let host = chain.anchorHost { rows.append(("Anchors read from host", host)) }
            return "<p class=\"\(chain.intact ? "ok" : "bad")\">\(chain.intact ? "Verified" : "Tampered")</p>"
                + table(rows)
        case .retention:
            let age = report.maxAgeDays > 0 ? "\(report.maxAgeDays) days" : "kept forever (MaxAgeDays=0)"
            let count = report.maxRecords > 0 ? "\(report.maxRecords) records" : "no limit (MaxRecords=0)"
            let oldest = report.oldestRecord.map { "record \($0.seq), stored \(time($0.received))" } ?? "no record"
            return table([("Records kept for", age), ("At most", count), ("Oldest record kept", oldest)])
        case .offHost:
            return table([("Journal forwarding", report.offHost ?? "not configured (no journal-upload URL)")])
        case .review:
            let verdicts = VerdictCode.allCases.map { ($0.rawValue, String(report.perVerdict[$0] ?? 0)) }
            let alerts =
                report.alerts.map { states in
                    states.sorted { $0.key < $1.key }.map { ("alerts \($0.key)", String($0.value)) }
                } ?? [("alerts", "the alert outbox could not be read")]
            return table(verdicts + alerts)
        case .changes:
            let counts = AuthSignal.allCases.filter { $0.family == .credential || $0.family == .account }.map {
                ($0.rawValue, String(report.perSignal[$0] ?? 0))
            }
            return table(counts) + list(report.changes, empty: "No credential or account change in the period.")
        case .lifecycle:
            let unclean =
                report.uncleanStarts == 0
                ? "Every start followed a stop."
                : "\(report.uncleanStarts) start(s) without a stop before: the daemon was killed or the host went down."
            return "<p>\(escape(unclean))</p>" + list(report.lifecycle, empty: "No start or stop in the period.")
        }
    }

    /// A bar chart, one bar per day, as inline SVG.
    static func chart(_ values: [(String, Int)], colour: String, label: String) -> String {
        let width = 720.0
        let height = 140.0
        let peak = max(values.map(\.1).max() ?? 0, 1)
        let step = width / Double(max(values.count, 1))
        var svg =
            "<figure><svg role=\"img\" aria-label=\"\(escape(label))\" viewBox=\"0 0 \(Int(width)) \(Int(height) + 36)\" "
            + "width=\"100%\" height=\"176\">"
        for (index, (day, value)) in values.enumerated() {
            let barHeight = Double(value) / Double(peak) * height
            let x = Double(index) * step
            let box = [x + step * 0.1, 16 + height - barHeight, max(step * 0.8, 0.5), barHeight].map {
                String(Double(($0 * 10).rounded()) / 10)
            }
            svg +=
                "<rect x=\"\(box[0])\" y=\"\(box[1])\" width=\"\(box[2])\" height=\"\(box[3])\" fill=\"\(colour)\">"
                + "<title>\(day): \(value)</title></rect>"
        }
        if let first = values.first?.0, let last = values.last?.0 {
            svg += "<text x=\"0\" y=\"\(Int(height) + 31)\">\(first)</text>"
            svg += "<text x=\"\(Int(width))\" y=\"\(Int(height) + 31)\" text-anchor=\"end\">\(last)</text>"
        }
        svg += "<text x=\"0\" y=\"11\">peak \(values.map(\.1).max() ?? 0) a day</text>"
        svg +=
            "<line x1=\"0\" y1=\"\(Int(height) + 16)\" x2=\"\(Int(width))\" y2=\"\(Int(height) + 16)\" stroke=\"#bbb\"/>"
        return svg + "</svg><figcaption>\(escape(label)): \(values.map(\.1).reduce(0, +)) in all</figcaption></figure>"
    }

    private static func bars(_ entries: [(name: String, count: Int)], heading: String, colour: String) -> String {
        let peak = max(entries.first?.count ?? 0, 1)
        var html = "<div><h3>\(escape(heading))</h3>"
        if entries.isEmpty { return html + "<p>None.</p></div>" }
        html += "<table class=\"bars\">"
        for entry in entries {
            let share = Int((Double(entry.count) / Double(peak) * 100).rounded())
            html +=
                "<tr><td>\(escape(HashedName.abbreviated(entry.name)))</td><td class=\"n\">\(entry.count)</td>"
                + "<td><div class=\"bar\" style=\"width:\(share)%;background:\(colour)\"></div></td></tr>"
        }
        return html + "</table></div>"
    }

    private static func table(_ rows: [(String, String)]) -> String {
        "<table>" + rows.map { "<tr><th>\(escape($0.0))</th><td>\(escape($0.1))</td></tr>" }.joined() + "</table>"
    }

    private static func list(_ records: [WireRecord], empty: String) -> String {
        guard !records.isEmpty else { return "<p>\(escape(empty))</p>" }
        return "<table class=\"records\"><tr><th>seq</th><th>when</th><th>what</th></tr>"
            + records.reversed().map {
                "<tr><td>\($0.seq)</td><td>\(time($0.time ?? $0.received))</td><td>\(escape(RecordSentence.text($0)))</td></tr>"
            }.joined() + "</table>"
    }

    private static func time(_ date: Date) -> String { escape(String(RFC3339.format(date).prefix(19)) + "Z") }

    /// `text` with `&`, `<`, `>`, `"` and `'` escaped, and control characters shown as `\xNN`.
    static func escape(_ text: String) -> String {
        var result = ""
        for character in DisplaySafe.escaped(text) {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default: result.append(character)
            }
        }
        return result
    }

    private static let style = """
        body{font:14px/1.45 "DejaVu Sans",sans-serif;margin:2em auto;max-width:60em;color:#222}
        h1{font-size:1.6em;margin:0}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:1.6em}
        h3{font-size:1em;margin:.6em 0 .3em}.summary{font-weight:bold}
        .controls span{display:inline-block;background:#e8eaf6;color:#283593;border-radius:3px;
        padding:0 .4em;margin:0 .3em .2em 0;font-size:.85em}
        table{border-collapse:collapse;margin:.4em 0}th,td{text-align:left;padding:.15em .8em .15em 0;
        vertical-align:top}th{font-weight:normal;color:#555}td.n{text-align:right}
        table.bars td:last-child{width:14em}.bar{height:.8em}.columns{display:flex;gap:3em}
        table.records td:first-child{color:#555}.ok{color:#2e7d32;font-weight:bold}
        .bad{color:#c62828;font-weight:bold}figure{margin:.5em 0}figcaption{color:#555;font-size:.9em}
        svg text{font-size:11px;fill:#555}footer{margin-top:2em;color:#777;font-size:.85em}
        """
}
