/// The release this program was built as: `version` is generated at build time from the newest
/// entry of debian/changelog by the `ReleaseVersion` plugin.
///
/// Only the programs' front modules (the `authsignal` command and `DaemonCommand`) import this
/// module; they pass the version to the libraries that print or record it.
public enum AuthSignalRelease {}
