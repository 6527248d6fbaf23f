import AuthSignalCore
import AuthSignalProtocol
import Testing

@testable import AuthSignalAlerts

/// The health rules alone: each condition raised when it starts, once per episode, from what one
/// look saw and what the look before it saw.
@Suite("Alerts: watching the audit path")
struct HealthWatchTests {
    static func stats(uptime: Int64 = 100, pending: Int = 0, anchorFailures: Int = 0) -> StatsAnswer.Service {
        StatsAnswer.Service(
            committedTransactions: 0, commitLatency: LatencyHistogram(), stored: [:], connections: 0, followers: 0,
            uptimeSeconds: uptime, redactionMode: "hmac", refused: [:],
            spool: StatsAnswer.Spool(directory: "/var/spool/authsignal", stored: 0, refused: 0, pending: pending),
            journal: StatsAnswer.Journal(
                sent: 0, dropped: 0, failed: 0, queued: 0, anchors: 1, anchorFailures: anchorFailures),
            trusted: .rootOnly, logLinesDropped: 0)
    }

    static func look(
        _ watch: inout HealthWatch, _ number: Int64, configure: (inout HealthObservation) -> Void
    ) -> [HealthCondition] {
        var observation = HealthObservation()
        configure(&observation)
        return watch.alerts(observation, settings: AlertSettings(), look: number).map(\.condition)
    }

    @Test("a full disk is one alert until it clears")
    func diskEpisodes() {
        var watch = HealthWatch()
        let percents = [74, 75, 90, 60, 80]
        let raised = percents.enumerated().map { index, percent in
            Self.look(&watch, Int64(index)) { $0.diskPercent = percent }
        }
        #expect(raised == [[], [.diskUsage], [], [], [.diskUsage]])
    }

    @Test("anchors refused since the last look, not across a daemon's restart")
    func anchors() {
        var watch = HealthWatch()
        let counts: [(uptime: Int64, failures: Int)] = [(100, 0), (130, 0), (160, 2), (190, 2), (5, 3), (35, 4)]
        let raised = counts.enumerated().map { index, count in
            Self.look(&watch, Int64(index)) {
                $0.stats = Self.stats(uptime: count.uptime, anchorFailures: count.failures)
            }
        }
        #expect(raised == [[], [], [.anchorFailures], [], [], [.anchorFailures]])
    }

    @Test("on a collector: each host silent once per episode, apart from the others; disagreeing anchors once")
    func fleetHosts() {
        var watch = HealthWatch()
        let looks: [[FleetHostHealth]] = [
            [
                FleetHostHealth(host: "web1", silentFor: nil, problems: []),
                .init(host: "web2", silentFor: nil, problems: []),
            ],
            [.init(host: "web1", silentFor: 960, problems: []), .init(host: "web2", silentFor: nil, problems: [])],
            [
                .init(host: "web1", silentFor: 990, problems: []),
                .init(host: "web2", silentFor: .infinity, problems: []),
            ],
            [.init(host: "web1", silentFor: nil, problems: []), .init(host: "web2", silentFor: nil, problems: ["x"])],
            [.init(host: "web1", silentFor: 901, problems: []), .init(host: "web2", silentFor: nil, problems: ["x"])],
        ]
        var details: [String] = []
        let raised = looks.enumerated().map { index, hosts in
            var observation = HealthObservation()
            observation.fleet = hosts
            let alerts = watch.alerts(observation, settings: AlertSettings(), look: Int64(index))
            details += alerts.map(\.detail)
            return alerts.map { "\($0.condition.rawValue) \($0.key)" }
        }
        #expect(
            raised == [
                [], ["host-silent web1/1"], ["host-silent web2/2"], ["host-anchors-disagree web2/3"],
                ["host-silent web1/4"],
            ])
        #expect(details.first?.hasPrefix("Host web1 was not heard from for 960 s: ") == true, "\(details)")
        #expect(details.contains { $0.hasPrefix("Host web2 was never heard from: ") }, "\(details)")
        #expect(details.contains("Host web2's chain anchors disagree: x."), "\(details)")
    }

    @Test("a spool that grows for three looks in a row, once, until it empties")
    func spoolGrowing() {
        var watch = HealthWatch()
        let pending = [0, 1, 2, 2, 3, 4, 5, 0, 1]
        let raised = pending.enumerated().map { index, count in
            Self.look(&watch, Int64(index)) { $0.stats = Self.stats(uptime: Int64(100 + index), pending: count) }
        }
        #expect(raised == [[], [], [], [], [.spoolGrowing], [], [], [], []])
    }

    @Test("a verify that failed, once per run; an intact one says nothing")
    func verify() {
        var watch = HealthWatch()
        let runs: [VerifyStatus] = [
            VerifyStatus(time: "t1", result: .intact, detail: "chain intact"),
            VerifyStatus(time: "t2", result: .tampered, detail: "TAMPERED: first bad record 7"),
            VerifyStatus(time: "t2", result: .tampered, detail: "TAMPERED: first bad record 7"),
            VerifyStatus(time: "t3", result: .unavailable, detail: ""),
        ]
        var details: [String] = []
        for (index, run) in runs.enumerated() {
            var observation = HealthObservation()
            observation.verify = run
            details += watch.alerts(observation, settings: AlertSettings(), look: Int64(index)).map(\.detail)
        }
        #expect(
            details == [
                "The scheduled verify of the audit log at t2 found it tampered: TAMPERED: first bad record 7",
                "The scheduled verify of the audit log at t3 found it unavailable: see authsignal verify",
            ])
    }

    @Test("the hook's reports: every look with losses or spooled events raises, counting them")
    func hookReports() {
        var watch = HealthWatch()
        var observation = HealthObservation()
        observation.hookReports = [
            ("spooled", "a spooled"), ("lost", "b lost: no spool"), ("lost", "c lost: no spool"),
        ]
        let alerts = watch.alerts(observation, settings: AlertSettings(), look: 9)
        #expect(alerts.map(\.condition) == [.hookLost, .hookSpooled])
        #expect(
            alerts[0].detail == "The PAM hook lost 2 event(s): neither stored nor spooled. The last: c lost: no spool")
        #expect(watch.alerts(HealthObservation(), settings: AlertSettings(), look: 10).isEmpty)
    }
}
