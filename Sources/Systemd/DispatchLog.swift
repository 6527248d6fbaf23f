import Glibc

/// libdispatch's own log, which both programs silence at start-up unless the environment sets it.
///
/// Since swift-corelibs-libdispatch 6.1 every new worker thread imitates its queue's quality of
/// service with `setpriority(2)`: nice 0 for the default queues, and -4 for the overcommit queue
/// that runs libdispatch's manager (its timers and event sources, behind `Task.sleep`). When the
/// call fails, libdispatch logs "Failed to set thread priority for worker thread" to syslog, once
/// per thread it starts. Both fail here for good reasons: the daemon's seccomp filter
/// (`SystemCallFilter=~@resources`) answers EPERM to every `setpriority`, and an unprivileged
/// CLI may not lower its nice value (EACCES). Threads keep the process's priority either way, so
/// the message says nothing an admin can act on; it only buries the entries that matter.
///
/// `LIBDISPATCH_LOG` is read once, on libdispatch's first message, so setting it before any work
/// starts is enough. An admin who wants libdispatch's messages back (its assertion messages
/// among them) starts the program with `LIBDISPATCH_LOG=syslog` or `=stderr`.
package enum DispatchLog {
    /// Turns libdispatch's log off, unless `LIBDISPATCH_LOG` is already set. Call it first thing
    /// in `main`, before anything uses Dispatch or Swift concurrency.
    package static func silenceUnlessConfigured() {
        setenv("LIBDISPATCH_LOG", "NO", 0)
    }
}
