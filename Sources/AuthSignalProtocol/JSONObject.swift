/// A JSON object: its members kept in one array, sorted by key as canonical JSON orders them
/// (by the keys' UTF-8 bytes), each key once.
///
/// It reads and writes like a `[String: JSONValue]` (literals, `object["key"]`, iteration as
/// `(key, value)` pairs) but costs less for the handful of members an event's objects hold: no
/// key is hashed, a parsed object is one allocation, and canonical encoding walks the members
/// as they are instead of sorting them first. Iteration is in key order.
public struct JSONObject: Sendable, Hashable, RandomAccessCollection, ExpressibleByDictionaryLiteral {
    /// A member: its key and value, labelled as a dictionary's elements are.
    public typealias Element = (key: String, value: JSONValue)
    /// A member's key.
    public typealias Key = String
    /// A member's value.
    public typealias Value = JSONValue

    /// Sorted by key, keys unique.
    private var members: [Element]

    /// An empty object.
    public init() { members = [] }

    /// An object with these members; a key given twice keeps its last value.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(elements.lazy.map { (key: $0.0, value: $0.1) })
    }

    /// An object with the members of `dictionary`.
    public init(_ dictionary: [String: JSONValue]) {
        self.init(dictionary.lazy.map { (key: $0.key, value: $0.value) })
    }

    /// An object with these members, whose keys must be unique (as `Dictionary`'s initialiser of
    /// the same name requires).
    public init(uniqueKeysWithValues members: some Sequence<(String, JSONValue)>) {
        let given = members.map { (key: $0.0, value: $0.1) }
        self.init(given)
        precondition(self.members.count == given.count, "duplicate keys in JSONObject(uniqueKeysWithValues:)")
    }

    /// Sorts `elements` by key; of equal keys the last one given wins. A few are inserted one by
    /// one; many are sorted once, so that no input costs quadratic time.
    private init(_ elements: some Sequence<Element>) {
        let given = Array(elements)
        members = []
        members.reserveCapacity(given.count)
        if given.count <= 16 {
            for member in given { updateValue(member.value, forKey: member.key) }
            return
        }
        // Stable, so that of equal keys the one given last comes last.
        let sorted = given.indices.sorted { left, right in
            given[left].key == given[right].key ? left < right : Self.precedes(given[left].key, given[right].key)
        }
        for index in sorted {
            if let last = members.last, last.key == given[index].key {
                members[members.count - 1] = given[index]
            } else {
                members.append(given[index])
            }
        }
    }

    /// Members already sorted by key with no key twice: for the parser, which checks both.
    init(sortedUniqueMembers members: [Element]) {
        self.members = members
    }

    /// Whether `left` sorts before `right` in canonical JSON (by UTF-8 bytes).
    static func precedes(_ left: String, _ right: String) -> Bool {
        left.utf8.lexicographicallyPrecedes(right.utf8)
    }

    // MARK: Collection

    /// The first member's position.
    public var startIndex: Int { 0 }
    /// The position after the last member.
    public var endIndex: Int { members.count }
    /// The member at `position`, in key order.
    public subscript(position: Int) -> Element { members[position] }

    // MARK: Dictionary-like access

    /// The value of the member `key`, if there is one; setting `nil` removes it.
    public subscript(key: String) -> JSONValue? {
        get { position(of: key).found.map { members[$0].value } }
        set {
            if let newValue { updateValue(newValue, forKey: key) } else { removeValue(forKey: key) }
        }
    }

    /// Sets the member `key` to `value`; its previous value, if it had one.
    @discardableResult
    public mutating func updateValue(_ value: JSONValue, forKey key: String) -> JSONValue? {
        let (found, insertion) = position(of: key)
        if let found {
            let old = members[found].value
            members[found].value = value
            return old
        }
        members.insert((key: key, value: value), at: insertion)
        return nil
    }

    /// Removes the member `key`; its value, if it had one.
    @discardableResult
    public mutating func removeValue(forKey key: String) -> JSONValue? {
        guard let found = position(of: key).found else { return nil }
        return members.remove(at: found).value
    }

    /// Makes room for `count` members.
    public mutating func reserveCapacity(_ count: Int) { members.reserveCapacity(count) }

    /// The keys, in order.
    public var keys: [String] { members.map(\.key) }

    /// The values, in the order of their keys.
    public var values: [JSONValue] { members.map(\.value) }

    /// The same keys with their values transformed.
    public func mapValues(_ transform: (JSONValue) throws -> JSONValue) rethrows -> JSONObject {
        JSONObject(sortedUniqueMembers: try members.map { (key: $0.key, value: try transform($0.value)) })
    }

    /// Adds the members of `other`; for a key both have, `combine` gives the value from the two.
    public mutating func merge(
        _ other: JSONObject, uniquingKeysWith combine: (JSONValue, JSONValue) throws -> JSONValue
    ) rethrows {
        for member in other.members {
            let (found, insertion) = position(of: member.key)
            if let found {
                members[found].value = try combine(members[found].value, member.value)
            } else {
                members.insert(member, at: insertion)
            }
        }
    }

    /// This object with the members of `other` added, as ``merge(_:uniquingKeysWith:)`` adds them.
    public func merging(
        _ other: JSONObject, uniquingKeysWith combine: (JSONValue, JSONValue) throws -> JSONValue
    ) rethrows -> JSONObject {
        var merged = self
        try merged.merge(other, uniquingKeysWith: combine)
        return merged
    }

    /// The members for which `isIncluded` holds, as an object.
    public func filter(_ isIncluded: (Element) throws -> Bool) rethrows -> JSONObject {
        JSONObject(sortedUniqueMembers: try members.filter(isIncluded))
    }

    /// Where `key` is, or where it would be inserted. Objects of a few members are scanned:
    /// comparing for equality is cheaper than ordering by bytes.
    private func position(of key: String) -> (found: Int?, insertion: Int) {
        if let last = members.last, Self.precedes(last.key, key) { return (nil, members.count) }
        if members.count <= 8 {
            for index in members.indices {
                if members[index].key == key { return (index, index) }
                if Self.precedes(key, members[index].key) { return (nil, index) }
            }
            return (nil, members.count)
        }
        var low = 0
        var high = members.count
        while low < high {
            let middle = (low + high) / 2
            if Self.precedes(members[middle].key, key) { low = middle + 1 } else { high = middle }
        }
        return (low < members.count && members[low].key == key ? low : nil, low)
    }

    // MARK: Equatable, Hashable

    /// Whether both have the same members.
    public static func == (left: JSONObject, right: JSONObject) -> Bool {
        left.members.elementsEqual(right.members) { $0.key == $1.key && $0.value == $1.value }
    }

    /// Hashes every member.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(members.count)
        for member in members {
            hasher.combine(member.key)
            hasher.combine(member.value)
        }
    }
}

extension JSONObject: Codable {
    private struct MemberKey: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Decodes a JSON object.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: MemberKey.self)
        self.init(
            try container.allKeys.map { (key: $0.stringValue, value: try container.decode(JSONValue.self, forKey: $0)) }
        )
    }

    /// Encodes the members as a JSON object.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: MemberKey.self)
        for member in members { try container.encode(member.value, forKey: MemberKey(stringValue: member.key)) }
    }
}
