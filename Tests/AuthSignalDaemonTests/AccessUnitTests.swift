import AuthSignalCore
import AuthSignalProtocol
import Testing

@testable import AuthSignalDaemon

/// `[Access]` and the keyed-hash rate limit as values: no socket, no daemon.
@Suite("Access policy, look-up and refusal-log limits")
struct AccessUnitTests {
    static func peer(_ uid: UInt32, groups: Set<UInt32> = []) -> PeerIdentity {
        PeerIdentity(credentials: PeerCredentials(uid: uid, gid: groups.first ?? uid, pid: 1), groups: groups)
    }

    static let emit = ProtocolRequest.emit(
        AuthEvent(
            signal: .userLoggedIn, sender: "sshd", user: "alice", request: nil, credentials: nil, time: nil, id: nil))

    @Test func eachClassIsDecidedByItsOwnListsAndRootAlways() {
        var config = DaemonConfig()
        config.emitUsers = ["1001"]
        config.emitGroups = ["2001"]
        config.readUsers = []
        config.readGroups = ["2002"]
        config.hashUsers = ["1003"]
        config.hashGroups = []
        let policy = AccessPolicy(config)
        #expect(policy.unresolved.isEmpty)
        // Root may do everything, in no group at all.
        for request in [Self.emit, .stats, .hash(value: "x", senderUID: nil), .ping] {
            #expect(policy.permits(request, peer: Self.peer(0)))
        }
        // By uid, by group, and nothing else.
        #expect(policy.permits(Self.emit, peer: Self.peer(1001)))
        #expect(policy.permits(Self.emit, peer: Self.peer(5000, groups: [7, 2001])))
        #expect(!policy.permits(Self.emit, peer: Self.peer(5000, groups: [2002])))
        #expect(policy.permits(.stats, peer: Self.peer(5000, groups: [2002])))
        #expect(!policy.permits(.stats, peer: Self.peer(1001)))
        #expect(policy.permits(.hash(value: "x", senderUID: nil), peer: Self.peer(1003)))
        #expect(!policy.permits(.hash(value: "x", senderUID: nil), peer: Self.peer(1001, groups: [2001, 2002])))
        // Anyone who can connect may ping.
        #expect(policy.permits(.ping, peer: Self.peer(5000)))
        #expect(AccessClass(.stats).activity == "read the audit log")
    }

    @Test("the daemon's own user (the alert service's) may read, and nothing more")
    func ownUserReads() {
        let policy = AccessPolicy(DaemonConfig(), ownUID: 998)
        #expect(policy.permits(.stats, peer: Self.peer(998)))
        #expect(!policy.permits(Self.emit, peer: Self.peer(998)))
        #expect(!policy.permits(.hash(value: "x", senderUID: nil), peer: Self.peer(998)))
        #expect(!policy.permits(.stats, peer: Self.peer(997)))
    }

    @Test func namesResolveThroughTheSystemAndUnknownOnesAreReported() {
        var config = DaemonConfig()
        config.emitUsers = ["root", "no-such-user-here"]
        config.emitGroups = ["root", "no-such-group-here"]
        config.trustedUsers = ["no-such-trusted-user"]
        let policy = AccessPolicy(config)
        #expect(policy.emitUIDs == [0])
        #expect(policy.emitGIDs == [0])
        #expect(
            policy.unresolved == [
                "Access.EmitUsers: no user no-such-user-here", "Access.EmitGroups: no group no-such-group-here",
                "Access.TrustedUsers: no user no-such-trusted-user",
            ])
    }

    @Test func hashLookUpsAreLimitedPerUidWithinASlidingWindow() {
        let lookUps = HashLookups(limit: 3, window: .seconds(60))
        let start = ContinuousClock.now
        for second in 0..<3 {
            #expect(lookUps.admit(uid: 1000, now: start + .seconds(second)) == nil)
        }
        // The fourth within the minute is refused, saying when the oldest leaves the window.
        #expect(lookUps.admit(uid: 1000, now: start + .seconds(10)) == .seconds(50))
        // Another uid has its own allowance.
        #expect(lookUps.admit(uid: 1001, now: start + .seconds(10)) == nil)
        // Once the first look-up is a minute old, one more is allowed, and only one.
        #expect(lookUps.admit(uid: 1000, now: start + .seconds(60)) == nil)
        #expect(lookUps.admit(uid: 1000, now: start + .seconds(60)) != nil)
    }

    /// Refusals a client causes are logged within a budget per uid and summarised, so that audit
    /// entries keep the journal's budget.
    @Test func refusalLogLimitsEachUidAndSummarises() {
        let log = RefusalLog(burst: 2, window: .seconds(10))
        let start = ContinuousClock.now
        var decisions: [RefusalLog.Decision] = []
        for offset in 0..<5 {
            decisions.append(log.record(uid: 1000, code: .forbidden, now: start + .milliseconds(offset)).0)
        }
        #expect(decisions == [.log, .log, .suppress, .suppress, .suppress])
        // Another uid has its own budget.
        #expect(log.record(uid: 1001, code: .invalidJSON, now: start).0 == .log)
        #expect(log.flush(now: start + .seconds(5)).isEmpty)
        // The next window starts with the summary of the last.
        let (decision, summary) = log.record(uid: 1000, code: .invalidJSON, now: start + .seconds(11))
        #expect(decision == .log)
        #expect(summary == RefusalLog.Summary(uid: 1000, suppressed: [.forbidden: 3]))
        #expect(
            summary?.message == "3 more refused requests from uid 1000 were not logged one by one (forbidden 3)")
        _ = log.record(uid: 1000, code: .invalidJSON, now: start + .seconds(11))
        _ = log.record(uid: 1000, code: .tooLarge, now: start + .seconds(11))
        // A burst that stopped is summarised by the periodic flush.
        #expect(
            log.flush(now: start + .seconds(30)) == [RefusalLog.Summary(uid: 1000, suppressed: [.tooLarge: 1])])
        #expect(log.flush(now: start + .seconds(60)).isEmpty)
    }
}
