import DaemonCommand
import Systemd

// The daemon on its own, for development and the tests; installs ship the multi-call `authsignal`
// program, which runs the same command when started as `authsignald`.
DispatchLog.silenceUnlessConfigured()
await AuthSignalDaemonCommand.runAsRoot()
