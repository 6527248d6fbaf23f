/// Why the audit store could not do what was asked. Messages name the cause, never a record's
/// contents, so they are safe to log and to send to clients.
package enum StoreError: Error, Equatable, CustomStringConvertible {
    /// Nothing was stored: the disk is full, the file is read-only, an I/O error occurred… The
    /// store serves again once the cause is gone. The daemon answers `unavailable`.
    case unavailable(String)
    /// The database path is a symbolic link (refused: it could redirect the audit log).
    case symlink(String)
    /// The database path is not a regular file.
    case notARegularFile(String)
    /// The store was closed.
    case closed
    /// The database could not be opened or migrated.
    case open(String)

    /// A message for people.
    package var description: String {
        switch self {
        case .unavailable(let reason): "audit log unavailable: \(reason)"
        case .symlink(let path): "refusing audit log path \(path): it is a symbolic link"
        case .notARegularFile(let path): "refusing audit log path \(path): not a regular file"
        case .closed: "audit log is closed"
        case .open(let reason): "cannot open audit log: \(reason)"
        }
    }
}
