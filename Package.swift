// swift-tools-version:6.2
import PackageDescription

/// One set of compiler settings for every target of ours: Swift 6 language mode (set package-wide
/// below), the upcoming features we want now, and every warning an error.
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InferIsolatedConformances"),
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "authsignal",
    platforms: [.macOS(.v15)],
    // What others may use: the signal dispatcher, the daemon's protocol (for Swift clients), the
    // fuzz package's checks, and the two programs. The other modules share their API within this
    // package only (`package` access).
    products: [
        .library(name: "Signals", targets: ["Signals"]),
        .library(name: "AuthSignalProtocol", targets: ["AuthSignalProtocol"]),
        .library(name: "AuthSignalFuzzChecks", targets: ["AuthSignalFuzzChecks"]),
        .executable(name: "authsignald", targets: ["authsignald"]),
        .executable(name: "authsignal", targets: ["authsignal"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // The alert sinks' programs (exec, sendmail, apprise, curl): time-outs, process groups.
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        // `swift package generate-documentation --target AuthSignalProtocol` (scripts/test).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .target(
            name: "Signals",
            dependencies: [.product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        // The daemon's protocol: requests, answers, records and their framing, for any Swift
        // program that talks to authsignald (docs/protocol.md).
        .target(name: "AuthSignalProtocol", swiftSettings: strictSettings),
        // `AuthSignalRelease.version`, from debian/changelog's newest entry. Only the two programs'
        // front modules depend on it and hand the version down: a new version (the upgrade check's
        // `+next1` build) then recompiles those two modules, not every module of the program.
        .target(name: "AuthSignalRelease", swiftSettings: strictSettings, plugins: ["ReleaseVersion"]),
        .plugin(name: "ReleaseVersion", capability: .buildTool()),
        .target(
            name: "AuthSignalCore",
            dependencies: [
                "AuthSignalProtocol", "AuthSignalStandards", "Signals",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        // Records in the standards SIEMs read: OCSF and ECS (docs/export.md).
        .target(
            name: "AuthSignalStandards",
            dependencies: ["AuthSignalProtocol"],
            swiftSettings: strictSettings
        ),
        .target(
            name: "AuditStore",
            dependencies: [
                "Signals", "AuthSignalCore", "AuthSignalProtocol",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        // What the fuzz package (Fuzz/) checks on each input, reaching the package's parsers.
        .target(
            name: "AuthSignalFuzzChecks",
            dependencies: ["AuthSignalCore", "AuthSignalProtocol"],
            swiftSettings: strictSettings
        ),
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        // journalctl's defence against journal files that shrink under a reader (SIGBUS), in C:
        // a signal handler.
        .target(name: "CJournalFaults"),
        .target(
            name: "Systemd",
            dependencies: [
                "CSystemd",
                "CJournalFaults",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // The audit log's journal form: entries, anchors, and reading them back.
        .target(
            name: "AuditJournal",
            dependencies: ["AuthSignalCore", "AuthSignalProtocol", "AuditStore", "Systemd"],
            swiftSettings: strictSettings
        ),
        .target(
            name: "AuthSignalDaemon",
            dependencies: [
                "Signals", "AuthSignalCore", "AuthSignalProtocol", "AuditStore", "AuditJournal", "Systemd", "CSystemd",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // The alert service: rules over committed records, the outbox, the sinks (docs/alerts.md).
        .target(
            name: "AuthSignalAlerts",
            dependencies: [
                "AuthSignalCore", "AuthSignalProtocol", "AuditStore", "AuditJournal", "AuthSignalClient", "Systemd",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strictSettings
        ),
        // The export service: committed records appended to a file in OCSF or ECS (docs/export.md).
        .target(
            name: "AuthSignalExport",
            dependencies: [
                "AuthSignalCore", "AuthSignalProtocol", "AuthSignalStandards", "AuditStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // The daemon's command line and start-up, shared by both programs below.
        .target(
            name: "DaemonCommand",
            dependencies: [
                "AuthSignalDaemon", "AuthSignalCore", "AuthSignalProtocol", "AuthSignalRelease", "Systemd",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "authsignald",
            dependencies: ["DaemonCommand", "Systemd"],
            swiftSettings: strictSettings
        ),
        .target(
            name: "AuthSignalClient",
            dependencies: [
                "AuthSignalCore", "AuthSignalProtocol", "AuthSignalStandards", "AuditStore", "AuditJournal", "Systemd",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "authsignal",
            dependencies: [
                "AuthSignalClient", "AuthSignalCore", "AuthSignalProtocol", "AuditJournal", "Systemd", "DaemonCommand",
                "AuthSignalAlerts", "AuthSignalExport", "AuthSignalStandards", "AuditStore", "AuthSignalRelease",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "authsignal-load",
            dependencies: ["AuthSignalCore", "AuthSignalProtocol"],
            path: "Benchmarks/authsignal-load",
            swiftSettings: strictSettings
        ),
        // Test helpers, run by the tests and scripts/stress-store as separate processes.
        .executableTarget(
            name: "systemd-probe",
            dependencies: ["Systemd", "CSystemd"],
            path: "Tests/Helpers/systemd-probe",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "store-stress",
            dependencies: ["AuditStore", "AuthSignalCore"],
            path: "Tests/Helpers/store-stress",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "store-bench",
            dependencies: [
                "AuditStore", "AuthSignalCore", "AuthSignalProtocol",
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            path: "Benchmarks/store-bench",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "journal-bench",
            dependencies: ["Systemd", "AuthSignalCore", "AuthSignalProtocol", "AuditStore", "AuditJournal"],
            path: "Benchmarks/journal-bench",
            exclude: ["floor.c"],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "signals-bench",
            dependencies: ["Signals"],
            path: "Benchmarks/signals-bench",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SignalsTests",
            dependencies: ["Signals", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "AuditStoreTests",
            dependencies: [
                "AuditStore", "AuthSignalCore", "AuthSignalProtocol", "Signals", "TestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SystemdTests",
            dependencies: [
                "Systemd", "AuthSignalCore", "AuthSignalProtocol", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "AuthSignalClientTests",
            dependencies: [
                "AuthSignalClient", "AuthSignalCore", "AuthSignalProtocol", "AuditJournal", "AuditStore", "Systemd",
                "TestSupport",
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "AuditJournalTests",
            dependencies: [
                "AuditJournal", "AuditStore", "AuthSignalCore", "AuthSignalProtocol", "Systemd", "TestSupport",
            ],
            swiftSettings: strictSettings
        ),
        // The alert service against real SQLite files and real sink programs.
        .testTarget(
            name: "AuthSignalAlertsTests",
            dependencies: [
                "AuthSignalAlerts", "AuditJournal", "AuditStore", "AuthSignalCore", "AuthSignalProtocol", "Systemd",
                "TestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "TestSupport",
            path: "Tests/TestSupport",
            swiftSettings: strictSettings
        ),
        // The spawned tests' helpers (a daemon process, a socket client, the CLI, PAM services)
        // and the one serialized suite every spawned test of every target runs in.
        .target(
            name: "SpawnSupport",
            dependencies: ["TestSupport", "AuthSignalCore"],
            path: "Tests/SpawnSupport",
            swiftSettings: strictSettings
        ),
        // The CLI, the PAM hook and module, and the tools around them, against real processes.
        .testTarget(
            name: "AuthSignalCLITests",
            dependencies: ["SpawnSupport", "TestSupport", "AuthSignalClient", "AuthSignalCore"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "AuthSignalDaemonTests",
            dependencies: [
                "TestSupport", "SpawnSupport", "AuthSignalClient", "AuthSignalCore", "AuthSignalProtocol",
                "AuthSignalDaemon", "AuditStore",
                "Signals",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "AuthSignalCoreTests",
            dependencies: [
                "AuthSignalCore", "AuthSignalProtocol", "AuthSignalStandards", "Signals", "TestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
