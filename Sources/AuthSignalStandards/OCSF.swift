package import AuthSignalProtocol

/// Records as OCSF 1.8.0 events (schema.ocsf.io/1.8.0), with the `host` profile (and
/// `security_control` for a login with verdicts). Each auth signal
/// is an Authentication event (class 3002, category Identity & Access Management): a login is a
/// successful Logon, a failed login a Logon whose status is Failure, a logout a Logoff. What OCSF
/// has no attribute for — the record's seq and chain hash (1.8.0 has no `record_integrity`
/// profile yet), its signal, sender and verdict codes, the rest of its request — goes under
/// `unmapped.authsignal`. docs/export.md lists every attribute.
package enum OCSF {
    /// The OCSF schema version the events declare (`metadata.version`) and are validated against.
    package static let schemaVersion = "1.8.0"

    /// Authentication's class and category.
    static let authenticationClass: Int64 = 3002
    static let identityCategory: Int64 = 3

    /// `record` as an OCSF event from `host`.
    package static func event(_ record: WireRecord, host: ExportHost) -> JSONObject {
        let facts = RecordFacts(record)
        let activity: (id: Int64, name: String) =
            switch record.signal {
            case .userLoggedIn, .userLoginFailed: (1, "Logon")
            case .userLoggedOut: (2, "Logoff")
            }
        let failed = record.signal == .userLoginFailed
        var severity: (id: Int64, name: String) = failed ? (2, "Low") : (1, "Informational")
        if !record.verdicts.isEmpty { severity = (3, "Medium") }

        var event: JSONObject = [
            "class_uid": .int(authenticationClass), "class_name": .string("Authentication"),
            "category_uid": .int(identityCategory), "category_name": .string("Identity & Access Management"),
            "activity_id": .int(activity.id), "activity_name": .string(activity.name),
            "type_uid": .int(authenticationClass * 100 + activity.id),
            "type_name": .string("Authentication: \(activity.name)"),
            "time": .int(RecordFacts.milliseconds(facts.time)),
            "severity_id": .int(severity.id), "severity": .string(severity.name),
            "status_id": .int(failed ? 2 : 1), "status": .string(failed ? "Failure" : "Success"),
            "message": .string(facts.message),
            "metadata": .object(metadata(record, profiles: ["host"])),
            "device": .object(device(host)),
            "dst_endpoint": .object(endpoint(host)),
            "actor": .object(actor(record)),
            "unmapped": .object(["authsignal": .object(facts.authsignalMembers)]),
        ]
        if failed { event["status_detail"] = .string("The credentials were refused (PAM authentication failed).") }
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
        if !record.verdicts.isEmpty {
            // A judged login: OCSF's security_control profile says what a control saw and did.
            // authsignal observes (the login was not stopped) and flags it.
            event["metadata"] = .object(metadata(record, profiles: ["host", "security_control"]))
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

    private static func metadata(_ record: WireRecord, profiles: [String]) -> JSONObject {
        [
            "version": .string(schemaVersion),
            "product": .object([
                "name": .string("authsignal"), "vendor_name": .string("authsignal"),
                "version": .string(AuthSignalRelease.version),
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
