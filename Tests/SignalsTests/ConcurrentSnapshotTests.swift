import Foundation
import Signals
import Synchronization
import Testing

/// Sends read the registrations without a lock while connects and disconnects replace them: the
/// replaced lists must stay valid for sends still walking them, and must still be freed.
@Suite("Lock-free snapshots under concurrent change")
struct ConcurrentSnapshotTests {
    /// A receiver's owner whose deallocation is observable.
    final class Listener: Sendable {
        let heard = Atomic<Int>(0)
    }

    @Test(arguments: SendWay.allCases)
    func sendsRacingConnectsAndDisconnectsAlwaysReachTheStandingReceiver(way: SendWay) async throws {
        let signal = Signal<Login>("login")
        let standing = Atomic<Int>(0)
        signal.connect(dispatchUID: "standing") { _, _ in standing.add(1, ordering: .relaxed) }
        let senders = 4
        let sendsEach = 20_000
        let churn = 2_000
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<senders {
                group.addTask {
                    for _ in 0..<sendsEach { try way.send(signal, Login(user: "alice")) }
                }
            }
            group.addTask {
                for index in 0..<churn {
                    let listener = Listener()
                    signal.connect(owner: listener, dispatchUID: "churn-\(index % 7)") { listener, _, _ in
                        listener.heard.add(1, ordering: .relaxed)
                    }
                    signal.disconnect(dispatchUID: "churn-\(index % 7)")
                }
            }
            try await group.waitForAll()
        }
        #expect(standing.load(ordering: .relaxed) == senders * sendsEach)
        #expect(signal.registrationCount == 1)
    }

    /// A disconnected receiver held only by replaced snapshots is released once no send is
    /// reading them: retiring a snapshot must not leak it.
    @Test(arguments: SendWay.allCases)
    func replacedSnapshotsAreFreed(way: SendWay) throws {
        let signal = Signal<Login>("login")
        weak var released: Listener?
        do {
            let listener = Listener()
            released = listener
            signal.connect(owner: listener, weak: false, dispatchUID: "kept") { listener, _, _ in
                listener.heard.add(1, ordering: .relaxed)
            }
            try way.send(signal, Login(user: "alice"))
            #expect(listener.heard.load(ordering: .relaxed) == 1)
        }
        #expect(released != nil)
        #expect(signal.disconnect(dispatchUID: "kept"))
        #expect(released == nil)
        // And after many replacements with sends between them.
        for round in 0..<100 {
            let listener = Listener()
            released = listener
            signal.connect(owner: listener, weak: false, dispatchUID: "round") { listener, _, _ in
                listener.heard.add(1, ordering: .relaxed)
            }
            try way.send(signal, Login(user: "round \(round)"))
            signal.disconnect(dispatchUID: "round")
        }
        #expect(released == nil)
    }

    /// A receiver that disconnects another during a send retires the registrations the send is
    /// walking: they stay valid until the send ends (the rest of the walk reads them), and are
    /// freed when it does, not kept until some later send.
    @Test(arguments: SendWay.allCases)
    func registrationsReplacedDuringASendAreFreedWhenItEnds(way: SendWay) throws {
        let signal = Signal<Login>("login")
        weak var released: Listener?
        let removedCalls = Atomic<Int>(0)
        let seenAfter = Atomic<Int>(0)
        do {
            let listener = Listener()
            released = listener
            signal.connect(dispatchUID: "remover") { _, _ in
                #expect(signal.disconnect(dispatchUID: "removed"))
            }
            signal.connect(owner: listener, weak: false, dispatchUID: "removed") { listener, _, _ in
                listener.heard.add(1, ordering: .relaxed)
                removedCalls.add(1, ordering: .relaxed)
            }
            signal.connect(dispatchUID: "after") { _, _ in seenAfter.add(1, ordering: .relaxed) }
        }
        #expect(released != nil)
        try way.send(signal, Login(user: "alice"))
        // The walk went on over the old registrations: the removed receiver was still called.
        #expect(removedCalls.load(ordering: .relaxed) == 1)
        #expect(released == nil, "the retired registrations outlived the send")
        #expect(seenAfter.load(ordering: .relaxed) == 1)
        #expect(signal.registrationCount == 2)
    }
}
