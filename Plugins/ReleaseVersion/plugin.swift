import PackagePlugin

/// Gives the target it is applied to `AuthSignalRelease.version`: the newest entry of
/// debian/changelog, the one place a release's version is written. The Debian package takes its
/// version from the same entry, so `authsignal --version` prints what `dpkg -l` shows.
@main
struct ReleaseVersion: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let changelog = context.package.directoryURL.appending(path: "debian/changelog")
        let output = context.pluginWorkDirectoryURL.appending(path: "AuthSignalRelease.swift")
        return [
            .buildCommand(
                displayName: "Reading the release version from debian/changelog",
                executable: try context.tool(named: "release-version").url,
                arguments: [changelog.path(percentEncoded: false), output.path(percentEncoded: false)],
                inputFiles: [changelog],
                outputFiles: [output])
        ]
    }
}
