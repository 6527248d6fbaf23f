// swift-tools-version:6.2
import PackageDescription

/// An example client of authsignald written against the AuthSignalProtocol library alone, as a
/// program outside this repository would be: it lists the failed logins of the last hours by
/// account and source address. Built and run against a daemon by scripts/test.
let package = Package(
    name: "FailedLogins",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "authsignal", path: "../..")],
    targets: [
        .executableTarget(
            name: "failed-logins",
            dependencies: [.product(name: "AuthSignalProtocol", package: "authsignal")]
        )
    ],
    swiftLanguageModes: [.v6]
)
