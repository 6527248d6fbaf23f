import DaemonCommand
import Systemd

// One program for both commands: the daemon and the CLI share most of their code (the Swift
// runtime, Foundation, the protocol, the store), so one binary linked under two names installs in
// about half the space of two (docs/architecture.md). The name it was started by decides.
DispatchLog.silenceUnlessConfigured()
switch Program(invokedAs: CommandLine.arguments.first ?? "") {
case .daemon: await AuthSignalDaemonCommand.runAsRoot()
case .client: await AuthSignalCommand.runAsRoot()
}
