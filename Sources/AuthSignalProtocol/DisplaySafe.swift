/// Makes text that a client chose safe to show on a terminal, in a log line or a spreadsheet
/// cell: no escape sequence, no line break, no bidirectional override can come through to
/// rewrite what is around it or make one name read as another.
public enum DisplaySafe {
    /// Whether `scalar` must not be shown as it is: a control character (C0, DEL, C1) or a
    /// bidirectional formatting character (such as U+202E RIGHT-TO-LEFT OVERRIDE).
    public static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.generalCategory == .control || scalar.properties.isBidiControl
    }

    /// Whether `text` holds anything ``isUnsafe(_:)``.
    public static func needsEscaping(_ text: String) -> Bool {
        // Printable ASCII, by far the common case, needs no Unicode property look-ups.
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return false }
        return text.unicodeScalars.contains(where: isUnsafe)
    }

    /// `text` with each unsafe character written as `\xNN` (up to U+00FF) or `\u{NNNN}`, and `\`
    /// as `\\`, so that the escaped form cannot be mistaken for an escape in the text.
    public static func escaped(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            if scalar == "\\" {
                result += "\\\\"
            } else if isUnsafe(scalar) {
                let hex = String(scalar.value, radix: 16)
                result += scalar.value <= 0xFF ? "\\x" + (hex.count == 1 ? "0" + hex : hex) : "\\u{" + hex + "}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
