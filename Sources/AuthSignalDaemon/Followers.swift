package import AuditStore
import AuthSignalCore
package import AuthSignalProtocol
import Signals
import Synchronization

/// The live followers (`follow` requests): each committed record is offered to every follower
/// whose filter matches, into that follower's bounded buffer. A follower that falls further
/// behind than its buffer is ended with an error saying where to resume, instead of making the
/// daemon buffer without bound.
///
/// The hub hears committed records through `post_save` from its audit log (the payload's `using`,
/// the log's path, tells them from another log's), and is connected only while someone follows:
/// with no follower (and the journal off) the store's writer does not build record objects for
/// `post_save` at all.
package final class FollowerHub: Sendable {
    /// How many records one follower may have waiting.
    package static let bufferLimit = 8192

    private struct Entry: Sendable {
        let filter: RecordFilter
        let continuation: AsyncStream<AuditRecord>.Continuation
        let lost: Lost
    }

    /// The followers by id; `nil` once the hub is finished (shutdown).
    private let followers = Mutex<[UInt64: Entry]?>([:])
    private let nextID = Atomic<UInt64>(1)
    private let receiver: Receiver<PostSave>
    /// The dispatch UID of the hub's `post_save` registration, unique to its log.
    private let dispatchUID: String

    /// An empty hub for the records of the audit log at `using`.
    package init(using: String) {
        let hub = WeakHub()
        receiver = Receiver("authsignald.followers") { _, payload in
            guard payload.using == using, let record = payload.instance(as: AuditRecord.self) else { return }
            hub.value?.offer(record)
        }
        dispatchUID = "authsignald.followers:\(using)"
        hub.value = self
    }

    /// Connects the `post_save` receiver while `followers` has anyone, disconnects it otherwise.
    /// Called under the followers lock after every change, so the registration follows the set.
    private func listen(while followers: [UInt64: Entry]?) {
        if let followers, !followers.isEmpty {
            postSave.connect(receiver, sender: AuditStore.recordSender, weak: false, dispatchUID: dispatchUID)
        } else {
            postSave.disconnect(dispatchUID: dispatchUID, sender: AuditStore.recordSender)
        }
    }

    /// How many followers are connected.
    package var count: Int { followers.withLock { $0?.count ?? 0 } }

    /// Registers a follower for records matching `filter`.
    package func subscribe(_ filter: RecordFilter) -> Subscription {
        let (stream, continuation) = AsyncStream.makeStream(
            of: AuditRecord.self, bufferingPolicy: .bufferingOldest(Self.bufferLimit))
        let id = nextID.add(1, ordering: .relaxed).oldValue
        let lost = Lost()
        let open = followers.withLock { followers -> Bool in
            guard followers != nil else { return false }
            followers![id] = Entry(filter: filter, continuation: continuation, lost: lost)
            listen(while: followers)
            return true
        }
        // After shutdown began, a follow ends at once with its final line.
        guard open else {
            continuation.finish()
            return Subscription(records: stream, lost: lost)
        }
        continuation.onTermination = { [weak self] _ in
            self?.followers.withLock { followers in
                guard followers?.removeValue(forKey: id) != nil else { return }
                self?.listen(while: followers)
            }
        }
        return Subscription(records: stream, lost: lost)
    }

    /// Offers a committed record to every matching follower.
    package func offer(_ record: AuditRecord) {
        let overflowed = followers.withLock { followers -> [Entry] in
            guard let current = followers else { return [] }
            var overflowed: [Entry] = []
            for (id, entry) in current where entry.filter.matches(record) {
                if case .dropped = entry.continuation.yield(record) {
                    entry.lost.seq.store(record.seq, ordering: .relaxed)
                    overflowed.append(entry)
                    followers![id] = nil
                }
            }
            if !overflowed.isEmpty { listen(while: followers) }
            return overflowed
        }
        for entry in overflowed { entry.continuation.finish() }
    }

    /// Ends every follow stream, and every one started later (shutdown): each follower answers
    /// its final line.
    package func finishAll() {
        let all = followers.withLock { followers in
            defer {
                followers = nil
                listen(while: followers)
            }
            return Array((followers ?? [:]).values)
        }
        for entry in all { entry.continuation.finish() }
    }

    /// The hub as its receiver sees it: weakly, so that the registration never keeps it alive.
    private final class WeakHub: @unchecked Sendable {
        weak var value: FollowerHub?
    }

    /// Where a follower's stream broke off, if it fell behind.
    final class Lost: Sendable {
        /// The seq of the first record that did not fit; 0 while none was lost.
        let seq = Atomic<Int64>(0)
    }

    /// One follower's records.
    package struct Subscription: Sendable {
        /// The records as they commit; ends at shutdown, on overflow, or when cancelled.
        package let records: AsyncStream<AuditRecord>
        let lost: Lost

        /// The seq of the first record this follower lost by falling behind, if any.
        package var firstLostSeq: Int64? {
            let seq = lost.seq.load(ordering: .relaxed)
            return seq > 0 ? seq : nil
        }
    }
}
