import AuthSignalCore
import AuthSignalProtocol
import Foundation
import Testing

/// `[Verdicts]`: each key read, each bad value named with its line, and the schedule's grammar.
@Suite("Verdicts: settings")
struct VerdictSettingsTests {
    static func load(_ text: String) -> (DaemonConfig, [ConfigProblem]) {
        var config = DaemonConfig()
        var problems: [ConfigProblem] = []
        config.apply(text, file: "/etc/authsignald.conf", problems: &problems)
        return (config, problems)
    }

    @Test func everyKeyIsRead() {
        let (config, problems) = Self.load(
            """
            [Verdicts]
            Enabled=first-seen-source outside-hours
            SourcePrefixIPv4=32
            SourcePrefixIPv6=48
            LearnLogins=10
            LearnDays=30
            FailureThreshold=8
            FailureWindowSec=300
            SystemUIDMax=499
            Hours=Mon-Fri 08:00-18:00
            TimeZone=Europe/Berlin
            """)
        #expect(problems.isEmpty)
        let verdicts = config.verdicts
        #expect(verdicts.enabled == [.firstSeenSource, .outsideHours])
        #expect(
            [verdicts.ipv4Prefix, verdicts.ipv6Prefix, verdicts.learnLogins, verdicts.learnDays] as [Int] == [
                32, 48, 10, 30,
            ])
        #expect(
            [verdicts.failureThreshold, verdicts.failureWindowSeconds, verdicts.systemUIDMax] as [Int] == [8, 300, 499])
        #expect(verdicts.judges(.outsideHours) && !verdicts.judges(.concurrentSources))
        #expect(verdicts.zone.identifier == "Europe/Berlin")
        #expect(config.settings["Verdicts.Hours"] == "Mon-Fri 08:00-18:00")
        #expect(Self.load("[Verdicts]\nEnabled=none").0.verdicts.enabled.isEmpty)
        // The judge learned the history with the old values: a reload keeps them.
        #expect(DaemonConfig.restartOnlySettings.contains("Verdicts.LearnLogins"))
    }

    @Test(arguments: [
        ("Enabled=first-seen-source brute-force", "unknown verdict brute-force"),
        ("SourcePrefixIPv4=33", "expected an integer from 8 to 32"),
        ("FailureThreshold=0", "expected an integer from 1 to 1000"),
        ("Hours=Mon-Fri 7-19", "expected a time range such as 07:00-19:00"),
        ("Hours=Weekdays 07:00-19:00", "expected days such as Mon-Fri or Sat"),
        ("Hours=Mon 07:00-07:00", "expected a time range"),
        ("TimeZone=Mars/Olympus", "unknown time zone Mars/Olympus"),
    ])
    func badValuesAreNamedWithTheirLine(line: String, message: String) {
        let (_, problems) = Self.load("[Verdicts]\n\(line)")
        #expect(problems.count == 1)
        #expect(problems.first?.line == 2)
        #expect(problems.first?.message.contains(message) == true, "\(problems)")
    }

    @Test func hoursAcrossMidnightAndWeekends() throws {
        let hours = try LoginHours(parsing: "Fri-Mon 22:00-06:00")
        // Weekdays: 1 = Sunday … 7 = Saturday.
        #expect(hours.contains(weekday: 6, minute: 23 * 60))  // Friday 23:00
        #expect(hours.contains(weekday: 7, minute: 5 * 60))  // Saturday 05:00, from Friday's span
        #expect(hours.contains(weekday: 3, minute: 60))  // Tuesday 01:00, from Monday's span
        #expect(!hours.contains(weekday: 3, minute: 23 * 60))  // Tuesday 23:00
        #expect(!hours.contains(weekday: 5, minute: 60))  // Thursday 01:00
        let day = try LoginHours(parsing: "Mon-Fri 00:00-24:00")
        #expect(day.contains(weekday: 2, minute: 1439) && !day.contains(weekday: 1, minute: 0))
    }
}
