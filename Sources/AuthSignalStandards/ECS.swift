package import AuthSignalProtocol

/// Records as Elastic Common Schema 8.17 documents, in the shape Elastic's prebuilt Linux
/// detection rules query: `event.category: authentication`, `event.action` `ssh_login` (sshd) or
/// `user_login`, `event.outcome`, `user.name`, `source.ip`, `host.*`, `related.*`. What ECS has no
/// field for goes under the custom `authsignal` object (seq, chain hash, signal, sender, tty,
/// pairing key, verdicts, the rest of the request). docs/export.md lists every field.
package enum ECS {
    /// The ECS version the documents declare (`ecs.version`) and are checked against.
    package static let version = "8.17.0"

    /// `record` as an ECS document from `host`, exported by authsignal `release`
    /// (`observer.version`).
    package static func document(_ record: WireRecord, host: ExportHost, release: String) -> JSONObject {
        let facts = RecordFacts(record)
        let failed = record.signal == .userLoginFailed || record.signal == .passwordChangeFailed
        let (categories, types): ([String], [String]) =
            switch record.signal {
            case .userLoggedIn: (["authentication", "session"], ["start"])
            case .userLoggedOut: (["authentication", "session"], ["end"])
            case .userLoginFailed: (["authentication"], ["start"])
            case .passwordChanged, .passwordChangeFailed, .accountLocked, .accountUnlocked:
                (["iam"], ["user", "change"])
            case .accountAdded: (["iam"], ["user", "creation"])
            case .accountRemoved: (["iam"], ["user", "deletion"])
            case .groupMembershipChanged: (["iam"], ["group", "change"])
            case .daemonStarted: (["process"], ["start"])
            case .daemonStopped: (["process"], ["end"])
            case .configReloaded: (["configuration"], ["change"])
            case .retentionRan: (["database"], ["change"])
            }
        let action: String =
            switch record.signal {
            case .userLoggedOut: "user_logout"
            case .userLoggedIn, .userLoginFailed:
                (facts.service ?? record.sender) == "sshd" ? "ssh_login" : "user_login"
            default: record.signal.rawValue
            }
        var event: JSONObject = [
            "kind": .string("event"), "category": .array(categories.map(JSONValue.string)),
            "type": .array(types.map(JSONValue.string)), "action": .string(action),
            "module": .string("authsignal"), "dataset": .string("authsignal.audit"),
            "provider": .string("authsignald"), "sequence": .int(record.seq),
            "created": .string(RFC3339.format(record.received)), "id": .string(Hex.encode(record.hash)),
        ]
        // The daemon's own start and stop have no outcome; everything else succeeded or failed.
        if record.signal.family != .lifecycle { event["outcome"] = .string(failed ? "failure" : "success") }
        var document: JSONObject = [
            "@timestamp": .string(RFC3339.format(facts.time)),
            "ecs": .object(["version": .string(version)]),
            "message": .string(facts.message),
            "event": .object(event),
            "observer": .object([
                "vendor": .string("authsignal"), "product": .string("authsignal"),
                "version": .string(release), "hostname": .string(host.hostname),
            ]),
        ]
        var hostFields: JSONObject = [
            "hostname": .string(host.hostname), "name": .string(host.hostname),
            "os": .object(["type": .string("linux"), "family": .string("linux")]),
        ]
        if let id = host.machineID { hostFields["id"] = .string(id) }
        document["host"] = .object(hostFields)
        if record.signal == .groupMembershipChanged, let group = record.request?["group"]?.stringValue {
            var fields: JSONObject = ["name": .string(group)]
            if let gid = record.request?["gid"]?.intValue { fields["id"] = .string(String(gid)) }
            document["group"] = .object(fields)
        }

        var related: JSONObject = ["hosts": .array([.string(host.hostname)])]
        if let user = record.user {
            var userFields: JSONObject = ["name": .string(user)]
            if record.signal.family == .account, let uid = record.request?["uid"]?.intValue {
                userFields["id"] = .string(String(uid))
            }
            document["user"] = .object(userFields)
            related["user"] = .array([.string(user)])
        }
        if let address = facts.remoteAddress {
            var source: JSONObject = ["address": .string(address)]
            if let ip = facts.remoteIP {
                source["ip"] = .string(ip)
                related["ip"] = .array([.string(ip)])
            } else {
                source["domain"] = .string(address)
                related["hosts"] = .array([.string(host.hostname), .string(address)])
            }
            if let remoteUser = facts.remoteUser { source["user"] = .object(["name": .string(remoteUser)]) }
            document["source"] = .object(source)
        }
        document["related"] = .object(related)

        var process: JSONObject = ["name": .string(facts.service ?? record.sender)]
        if let peer = record.peer {
            process["pid"] = .int(Int64(peer.pid))
            process["user"] = .object(["id": .string(String(peer.uid))])
        }
        document["process"] = .object(process)
        if !record.verdicts.isEmpty { document["tags"] = .array(record.verdicts.map { .string($0.code.rawValue) }) }

        var custom = facts.authsignalMembers
        if let tty = facts.tty { custom["tty"] = .string(tty) }
        if let pairing = facts.pairing { custom["pairing"] = .string(pairing) }
        if facts.remoteAddress == nil, let remoteUser = facts.remoteUser { custom["remote_user"] = .string(remoteUser) }
        document["authsignal"] = .object(custom)
        return document
    }
}
