import NIOPosix

/// Where account look-ups run: getpwuid and getgrouplist for a peer's groups, getpwnam for a
/// failed login's name. They go to NSS, which with sssd or LDAP may wait seconds, so they never run
/// on an event loop or the cooperative pool. A pool of their own, larger than NIO's shared
/// blocking pool (one thread per core): a few slow answers leave threads for every other peer.
enum AccountLookUps {
    /// How many look-ups may wait on NSS at once.
    static let threads = 16

    /// The pool, started on first use and kept for the life of the process.
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
        return pool
    }()
}
