public import Synchronization

/// The registrations as sends see them, published so that a send reads them without a lock.
///
/// A connect or disconnect (under the signal's lock) swaps in a new immutable ``Snapshot``; a
/// send reads the current one with two atomic operations and takes its own reference. The old
/// snapshot cannot be freed the moment it is swapped out, because a send may have read its
/// address and not yet taken that reference: sends announce themselves in a count of readers,
/// and swapped-out snapshots are retired until a moment when no send is between reading the
/// address and referencing it. That window is a few instructions long and no send waits on
/// another, so retired snapshots go at the next publish or when the last reader leaves.
@usableFromInline
final class SnapshotSlot<Payload: Sendable>: Sendable {
    /// The current snapshot's address, retained once by the slot.
    private let current: Atomic<UInt>
    /// Sends between reading `current` and holding their own reference to it.
    @usableFromInline let readers = Atomic<Int>(0)
    /// Whether `retired` may hold snapshots, so that a leaving reader knows to free them.
    @usableFromInline let hasRetired = Atomic<Bool>(false)
    /// Snapshots swapped out but perhaps still being picked up.
    private let retired = Mutex<[Snapshot<Payload>]>([])

    init(_ snapshot: Snapshot<Payload>) {
        current = Atomic(UInt(bitPattern: Unmanaged.passRetained(snapshot).toOpaque()))
    }

    deinit {
        Self.unmanaged(current.load(ordering: .relaxed)).release()
    }

    /// The current snapshot, referenced by the caller (the reference is taken while it still
    /// counts as a reader).
    @inlinable
    func read() -> Snapshot<Payload> {
        withCurrent { $0 }
    }

    /// Runs `body` with the current snapshot, without taking a reference to it: the snapshot
    /// stays alive because this send counts as a reader until `body` returns, and retired
    /// snapshots are only freed when no reader is left. The cheapest way to read it, for sends
    /// that return nothing that outlives them. A snapshot swapped out meanwhile (a receiver
    /// connected or disconnected during the send) is freed by the last reader to leave.
    @inlinable
    func withCurrent<Result>(_ body: (Snapshot<Payload>) throws -> Result) rethrows -> Result {
        // Sequentially consistent, paired with `publish`: either this count is seen by the
        // publisher's check, or this load sees the publisher's new snapshot.
        readers.wrappingAdd(1, ordering: .sequentiallyConsistent)
        defer {
            let left = readers.wrappingSubtract(1, ordering: .sequentiallyConsistent).newValue
            if left == 0 && hasRetired.load(ordering: .relaxed) { freeRetired() }
        }
        return try Self.unmanaged(currentAddress)._withUnsafeGuaranteedRef(body)
    }

    @usableFromInline
    var currentAddress: UInt { current.load(ordering: .sequentiallyConsistent) }

    @inlinable
    static func unmanaged(_ address: UInt) -> Unmanaged<Snapshot<Payload>> {
        Unmanaged.fromOpaque(UnsafeRawPointer(bitPattern: address)!)
    }

    /// Makes `snapshot` the one sends read. Called under the signal's lock, so publishes never race.
    func publish(_ snapshot: Snapshot<Payload>) {
        let old = current.exchange(
            UInt(bitPattern: Unmanaged.passRetained(snapshot).toOpaque()), ordering: .sequentiallyConsistent)
        retired.withLock { $0.append(Self.unmanaged(old).takeRetainedValue()) }
        hasRetired.store(true, ordering: .sequentiallyConsistent)
        freeRetired()
    }

    /// Drops the retired snapshots if no send is picking one up. A send that starts now reads
    /// the current snapshot, which is never among them.
    @usableFromInline
    func freeRetired() {
        let dropped = retired.withLock { retired -> [Snapshot<Payload>] in
            guard readers.load(ordering: .sequentiallyConsistent) == 0 else { return [] }
            hasRetired.store(false, ordering: .relaxed)
            defer { retired = [] }
            return retired
        }
        // Released outside the lock: the last reference to a snapshot may end registrations
        // whose receivers run deinitialisers.
        _ = dropped
    }
}
