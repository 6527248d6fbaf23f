// swift-tools-version:6.2
import PackageDescription

/// libFuzzer targets for what parses untrusted input: the JSON parser, the protocol decoder (with
/// the redactor behind it) and the configuration parser. Built by scripts/fuzz with
/// `-sanitize=fuzzer,address`; each program's main hands its input function to libFuzzer
/// (`LLVMFuzzerRunDriver`), since a Swift executable has a main of its own.
let package = Package(
    name: "AuthSignalFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "authsignal", path: "..")],
    targets: [
        .systemLibrary(name: "CFuzzer"),
        .target(name: "FuzzDriver", dependencies: ["CFuzzer"]),
        .executableTarget(
            name: "FuzzJSON",
            dependencies: ["FuzzDriver", .product(name: "AuthSignalFuzzChecks", package: "authsignal")]),
        .executableTarget(
            name: "FuzzProtocol",
            dependencies: ["FuzzDriver", .product(name: "AuthSignalFuzzChecks", package: "authsignal")]),
        .executableTarget(
            name: "FuzzConfig",
            dependencies: ["FuzzDriver", .product(name: "AuthSignalFuzzChecks", package: "authsignal")]),
    ],
    swiftLanguageModes: [.v6]
)
