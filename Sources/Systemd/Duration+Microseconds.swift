extension Duration {
    /// This duration in whole microseconds, the unit of libsystemd's timeouts and of
    /// `EXTEND_TIMEOUT_USEC`.
    var microseconds: Int64 {
        components.seconds * 1_000_000 + components.attoseconds / 1_000_000_000_000
    }
}
