import AuthSignalProtocol

/// The records already read from collected journals, to show each once.
///
/// systemd-journal-upload delivers at least once: it saves its cursor after the collector has
/// answered, so after an outage mid-upload it sends the unanswered entries again and
/// systemd-journal-remote writes them a second time into the host's file. A record is the same
/// record when its host and chain hash are (the hash covers the seq, every field and the record
/// before it), so a copy is dropped while a different record under a reused seq is still shown.
///
/// Memory is bounded for `follow`, which never ends: two generations of ``generation`` keys, the
/// older dropped when the newer fills. A re-sent entry follows its original within one upload's
/// unanswered tail, far inside that.
struct SeenRecords {
    /// Keys per generation (8 bytes each; about 11 MiB of set at this size).
    static let generation = 1 << 20
    private var current: Set<UInt64> = []
    private var previous: Set<UInt64> = []

    /// Whether `record` is read for the first time (recording it if so). Records without a
    /// chain hash are always first.
    mutating func first(_ record: WireRecord) -> Bool {
        guard record.hash.count >= 8 else { return true }
        var key = record.hash.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        key ^= UInt64(bitPattern: Int64(record.host?.hashValue ?? 0))
        if current.contains(key) || previous.contains(key) { return false }
        if current.count == Self.generation {
            previous = current
            current = []
        }
        current.insert(key)
        return true
    }
}
