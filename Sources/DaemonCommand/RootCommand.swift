package import ArgumentParser

extension AsyncParsableCommand {
    /// Runs this command as the program's root: its asynchronous `main`. A plain `main()` call
    /// from top-level code picks ParsableCommand's synchronous one, which refuses async commands.
    package static func runAsRoot() async {
        await main()
    }
}
