package import AuthSignalProtocol

/// Records as OCSF 1.8.0 events (schema.ocsf.io/1.8.0), with the `host` profile (and
/// `security_control` for a login with verdicts). Each auth signal is an Authentication event
/// (class 3002, category Identity & Access Management): a login is a successful Logon, a failed
/// login a Logon whose status is Failure, a logout a Logoff. What OCSF
/// has no attribute for — the record's seq and chain hash (1.8.0 has no `record_integrity`
/// profile yet), its signal, sender and verdict codes, the rest of its request — goes under
/// `unmapped.authsignal`. docs/export.md lists every attribute.
package enum OCSF {
    /// The OCSF schema version the events declare (`metadata.version`) and are validated against.
    package static let schemaVersion = "1.8.0"

    /// `record` as an OCSF event from `host`: Authentication for the auth signals, Account Change
    /// (3001) for password and account changes, Group Management (3006) for group memberships,
    /// Event Log Activity (1008) for the daemon's own lifecycle; `release` is authsignal's version
    /// (`metadata.product.version`).
    package static func event(_ record: WireRecord, host: ExportHost, release: String) -> JSONObject {
        let facts = RecordFacts(record)
        let failed = record.signal == .userLoginFailed || record.signal == .passwordChangeFailed
        var severity: (id: Int64, name: String) = failed ? (2, "Low") : (1, "Informational")
        if record.signal.family == .account { severity = (2, "Low") }
        if !record.verdicts.isEmpty { severity = (3, "Medium") }
        var event: JSONObject = [
            "time": .int(RecordFacts.milliseconds(facts.time)),
            "severity_id": .int(severity.id), "severity": .string(severity.name),
            "message": .string(facts.message),
            "metadata": .object(metadata(record, profiles: ["host"], release: release)),
            "device": .object(device(host)),
            "actor": .object(actor(record)),
            "unmapped": .object(["authsignal": .object(facts.authsignalMembers)]),
        ]
        if record.signal.family != .lifecycle {
            event["status_id"] = .int(failed ? 2 : 1)
            event["status"] = .string(failed ? "Failure" : "Success")
        }
        let members: JSONObject
        switch record.signal {
        case .userLoggedIn, .userLoginFailed, .userLoggedOut: members = authentication(record, facts, host: host)
        case .passwordChanged, .passwordChangeFailed: members = accountChange(record, activity: (3, "Password Change"))
        case .accountAdded: members = accountChange(record, activity: (1, "Create"))
        case .accountRemoved: members = accountChange(record, activity: (6, "Delete"))
        case .accountLocked: members = accountChange(record, activity: (9, "Lock"))
        case .accountUnlocked: members = accountChange(record, activity: (12, "Unlock"))
        case .groupMembershipChanged: members = groupManagement(record, facts)
        case .daemonStarted: members = eventLog(record, activity: (6, "Start"))
        case .daemonStopped: members = eventLog(record, activity: (7, "Stop"))
        case .configReloaded: members = eventLog(record, activity: (99, "Reload"))
        case .retentionRan: members = eventLog(record, activity: (2, "Delete"))
        }
        event.merge(members) { _, new in new }
        if !record.verdicts.isEmpty {
            // A judged login: OCSF's security_control profile says what a control saw and did.
            // authsignal observes (the login was not stopped) and flags it.
            event["metadata"] = .object(metadata(record, profiles: ["host", "security_control"], release: release))
            event["is_alert"] = .bool(true)
            event["action_id"] = .int(3)
            event["action"] = .string("Observed")
            event["disposition_id"] = .int(15)
            event["disposition"] = .string("Detected")
            event["risk_level_id"] = .int(2)
            event["risk_level"] = .string("Medium")
            event["risk_details"] = .string(
                record.verdicts.map { "\($0.code.rawValue): \($0.reason)" }.joined(separator: "; "))
        }
        return event
    }

    /// The class, category and activity members of an event.
    private static func classified(
        _ uid: Int64, _ name: String, category: (Int64, String), activity: (id: Int64, name: String)
    ) -> JSONObject {
        [
            "class_uid": .int(uid), "class_name": .string(name), "category_uid": .int(category.0),
            "category_name": .string(category.1), "activity_id": .int(activity.id),
            "activity_name": .string(activity.name), "type_uid": .int(uid * 100 + activity.id),
            "type_name": .string("\(name): \(activity.name)"),
        ]
    }

    private static let identity: (Int64, String) = (3, "Identity & Access Management")

    /// Authentication (3002): a login and a failed login are Logons, a logout a Logoff.
    private static func authentication(_ record: WireRecord, _ facts: RecordFacts, host: ExportHost) -> JSONObject {
        let activity: (id: Int64, name: String) = record.signal == .userLoggedOut ? (2, "Logoff") : (1, "Logon")
        var event = classified(3002, "Authentication", category: identity, activity: activity)
        event["dst_endpoint"] = .object(endpoint(host))
        if record.signal == .userLoginFailed {
            event["status_detail"] = .string("The credentials were refused (PAM authentication failed).")
        }
        // OCSF requires a user: an event without one names the empty name. A name that is no
        // account stays the keyed hash the log holds.
        event["user"] = .object(["name": .string(record.user ?? "")])
        if let service = facts.service { event["service"] = .object(["name": .string(service)]) }
        if let address = facts.remoteAddress {
            event["src_endpoint"] = .object(
                facts.remoteIP != nil ? ["ip": .string(address)] : ["hostname": .string(address)])
        }
        if let remote = facts.isRemote {
            event["is_remote"] = .bool(remote)
            event["logon_type_id"] = .int(remote ? 3 : 2)
            event["logon_type"] = .string(remote ? "Network" : "Interactive")
        }
        var session: JSONObject = [:]
        if let pairing = facts.pairing { session["uid"] = .string(pairing) }
        if let tty = facts.tty { session["terminal"] = .string(tty) }
        if !session.isEmpty {
            if let remote = facts.isRemote { session["is_remote"] = .bool(remote) }
            event["session"] = .object(session)
        }
        return event
    }

    /// Account Change (3001): a password change (or its failure) and an account added, removed,
    /// locked or unlocked; the account with its uid when the record has one.
    private static func accountChange(_ record: WireRecord, activity: (id: Int64, name: String)) -> JSONObject {
        var event = classified(3001, "Account Change", category: identity, activity: activity)
        event["user"] = .object(user(record))
        if record.signal == .passwordChangeFailed {
            event["status_detail"] = .string("The password was not changed (PAM's password stack failed).")
        }
        return event
    }

    /// Group Management (3006): an account added to or removed from a group.
    private static func groupManagement(_ record: WireRecord, _ facts: RecordFacts) -> JSONObject {
        let removed = record.request?["change"]?.stringValue == "removed"
        var event = classified(
            3006, "Group Management", category: identity, activity: removed ? (4, "Remove User") : (3, "Add User"))
        var group: JSONObject = ["name": .string(record.request?["group"]?.stringValue ?? "")]
        if let gid = record.request?["gid"]?.intValue { group["uid"] = .string(String(gid)) }
        event["group"] = .object(group)
        event["user"] = .object(user(record))
        return event
    }

    /// Event Log Activity (1008, System Activity): the audit log's own start, stop, reload and
    /// retention runs (a retention run deletes records: Delete).
    private static func eventLog(_ record: WireRecord, activity: (id: Int64, name: String)) -> JSONObject {
        var event = classified(1008, "Event Log Activity", category: (1, "System Activity"), activity: activity)
        event["log_name"] = .string("authsignal audit log")
        event["log_provider"] = .string("authsignald")
        return event
    }

    /// The account a record names, with its uid when the request carries one.
    private static func user(_ record: WireRecord) -> JSONObject {
        var user: JSONObject = ["name": .string(record.user ?? "")]
        if let uid = record.request?["uid"]?.intValue { user["uid"] = .string(String(uid)) }
        return user
    }

    private static func metadata(_ record: WireRecord, profiles: [String], release: String) -> JSONObject {
        [
            "version": .string(schemaVersion),
            "product": .object([
                "name": .string("authsignal"), "vendor_name": .string("authsignal"),
                "version": .string(release),
            ]),
            "profiles": .array(profiles.map(JSONValue.string)),
            "uid": .string(Hex.encode(record.hash)),
            "sequence": .int(record.seq),
            "logged_time": .int(RecordFacts.milliseconds(record.received)),
            "log_name": .string("authsignal audit log"),
            "log_provider": .string("authsignald"),
            "event_code": .string(record.signal.rawValue),
        ]
    }

    /// The host the login was to (OCSF's host profile: `device`; `type_id` 0, Unknown: a server
    /// or a desktop alike).
    private static func device(_ host: ExportHost) -> JSONObject {
        var device: JSONObject = [
            "hostname": .string(host.hostname), "type_id": .int(0), "type": .string("Unknown"),
            "os": .object(["name": .string("Linux"), "type_id": .int(200), "type": .string("Linux")]),
        ]
        if let id = host.machineID { device["uid"] = .string(id) }
        return device
    }

    private static func endpoint(_ host: ExportHost) -> JSONObject {
        var endpoint: JSONObject = ["hostname": .string(host.hostname)]
        if let id = host.machineID { endpoint["uid"] = .string(id) }
        return endpoint
    }

    /// Who reported the event: the sender's name, and the process and uid the kernel named.
    private static func actor(_ record: WireRecord) -> JSONObject {
        var actor: JSONObject = ["app_name": .string(record.sender)]
        if let peer = record.peer {
            actor["process"] = .object([
                "pid": .int(Int64(peer.pid)), "user": .object(["uid": .string(String(peer.uid))]),
            ])
        }
        return actor
    }
}
