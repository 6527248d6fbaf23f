import AuthSignalCore
import AuthSignalProtocol
import Testing

/// Which NSS configurations make an account look-up one that may wait.
@Suite("Name service switch")
struct NameServiceSwitchTests {
    @Test(arguments: [
        ("passwd: files systemd\ngroup: files systemd\n", false),
        ("passwd:         files sss\n", true),
        ("passwd: compat [NOTFOUND=return] ldap\n", true),
        ("# passwd: ldap\npasswd: files # ldap later\n", false),
        ("group: files winbind\n", false),
        ("", false),
    ])
    func networkSourcesMayBlockLocalOnesDoNot(_ text: String, _ mayBlock: Bool) {
        #expect(NameServiceSwitch.mayBlock("passwd", configuration: text) == mayBlock)
    }
}
