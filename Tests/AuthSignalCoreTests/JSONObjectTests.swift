import AuthSignalProtocol
import Foundation
import Testing

/// `JSONObject` keeps its members sorted as canonical JSON orders them; the hash chain relies on
/// its canonical bytes being those of the dictionary it replaced.
@Suite("JSON objects")
struct JSONObjectTests {
    /// The canonical encoding of an object as it was made when objects were dictionaries: the
    /// members sorted by their keys' UTF-8 bytes at encoding time.
    static func referenceEncoding(_ members: [String: JSONValue]) -> [UInt8] {
        var output: [UInt8] = [UInt8(ascii: "{")]
        let sorted = members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        for (index, member) in sorted.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            output += Array(CanonicalJSON.encode(.string(member.key)))
            output.append(UInt8(ascii: ":"))
            output += Array(CanonicalJSON.encode(member.value))
        }
        output.append(UInt8(ascii: "}"))
        return output
    }

    @Test func membersIterateInCanonicalOrderHoweverTheyWereMade() {
        // UTF-8 byte order: upper case before lower case, "é" (0xC3) after every ASCII key.
        let literal: JSONObject = ["é": .int(4), "b": .int(2), "B": .int(1), "a": .int(3)]
        #expect(literal.keys == ["B", "a", "b", "é"])
        var built = JSONObject()
        for (key, value) in [("a", 3), ("é", 4), ("B", 1), ("b", 2)] { built[key] = .int(Int64(value)) }
        #expect(built == literal)
        #expect(built.hashValue == literal.hashValue)
        #expect(JSONObject(["b": .int(2), "a": .int(3), "é": .int(4), "B": .int(1)]) == literal)
        #expect(Array(literal.map(\.value)) == [.int(1), .int(3), .int(2), .int(4)])
    }

    @Test func setReplaceAndRemoveKeepOneMemberPerKey() {
        var object: JSONObject = ["user": .string("alice")]
        #expect(object.updateValue(.string("bob"), forKey: "user") == .string("alice"))
        object["tty"] = .string("pts/0")
        object["service"] = .string("sshd")
        #expect(object.count == 3)
        #expect(object["user"] == .string("bob"))
        object["tty"] = nil
        #expect(object.removeValue(forKey: "absent") == nil)
        #expect(object.keys == ["service", "user"])
        #expect(object["tty"] == nil)
        var merged = object.merging(["user": .string("carol"), "a": .null]) { old, _ in old }
        #expect(merged.keys == ["a", "service", "user"] && merged["user"] == .string("bob"))
        merged.merge(["user": .string("dave")]) { _, new in new }
        #expect(merged["user"] == .string("dave"))
        #expect(merged.filter { $0.key != "a" } == object.merging(["user": .string("dave")]) { _, new in new })
        #expect(merged.mapValues { _ in .null }.values == [.null, .null, .null])
    }

    /// Objects of many members (past the small-object scans) built in every order, against a
    /// dictionary holding the same members: same lookups, same canonical bytes.
    @Test(arguments: [3, 17, 40, 300])
    func anyObjectEncodesAsTheDictionaryItReplacedDid(count: Int) throws {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("aAzZ09_-é€😀\u{7F}\"\\\n".unicodeScalars)
        for _ in 0..<20 {
            var dictionary: [String: JSONValue] = [:]
            while dictionary.count < count {
                let length = Int.random(in: 0...6, using: &generator)
                let key = String(String.UnicodeScalarView((0..<length).map { _ in alphabet.randomElement()! }))
                dictionary[key] = .int(Int64.random(in: -5...5, using: &generator))
            }
            var byUpdates = JSONObject()
            for (key, value) in dictionary.shuffled() { byUpdates[key] = value }
            let byDictionary = JSONObject(dictionary)
            #expect(byUpdates == byDictionary)
            for (key, value) in dictionary { #expect(byUpdates[key] == value) }
            let expected = Self.referenceEncoding(dictionary)
            #expect(Array(CanonicalJSON.encode(byUpdates)) == expected)
            // Parsed from the members in a random order: the same object.
            let text =
                "{"
                + dictionary.shuffled().map { member in
                    String(decoding: CanonicalJSON.encode(.string(member.key)), as: UTF8.self) + ":"
                        + String(decoding: CanonicalJSON.encode(member.value), as: UTF8.self)
                }.joined(separator: ",") + "}"
            #expect(try JSONParser.parse(Array(text.utf8)) == .object(byDictionary))
        }
    }

    /// A duplicate key is refused where it appears, among a few members or many.
    @Test(arguments: [2, 16, 17, 5_000])
    func theParserRefusesADuplicateKeyAtItsOffset(members: Int) throws {
        let keys = (0..<members).map { "k\($0)" }.reversed()
        let head = "{" + keys.map { "\"\($0)\":1" }.joined(separator: ",") + ","
        let text = head + "\"k0\":2}"
        let refused = #expect(throws: JSONParseError.self) { try JSONParser.parse(Array(text.utf8)) }
        #expect(
            refused?.reason == "duplicate object key" && refused?.offset == head.utf8.count,
            "\(String(describing: refused))")
        let unique = try JSONParser.parse(Array((head.dropLast() + "}").utf8))
        guard case .object(let object) = unique else {
            Issue.record("not an object: \(unique)")
            return
        }
        #expect(object.count == members && object.keys == keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
    }

    @Test func codableRoundTripKeepsTheMembers() throws {
        let object: JSONObject = ["b": .array([.int(1), .object(["z": .bool(true), "y": .null])]), "a": .string("x")]
        let data = try JSONEncoder().encode(JSONValue.object(object))
        #expect(try JSONDecoder().decode(JSONValue.self, from: data) == .object(object))
    }
}
