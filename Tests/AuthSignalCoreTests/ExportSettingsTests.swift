import AuthSignalCore
import AuthSignalStandards
import Testing

/// `[Export]`: each key read, relative paths made absolute, bad values refused with their line.
@Suite("Export: the export file's settings")
struct ExportSettingsTests {
    @Test func everyKeyIsReadAndTheDefaultsAreOCSF() throws {
        let defaults = ExportSettings()
        #expect(defaults.path == "/var/log/authsignal/export.jsonl" && defaults.format == .ocsf)
        #expect(defaults.maxFileMiB == 100 && defaults.keepFiles == 5)
        let config = try AlertSettingsTests.load([
            "main": "[Export]\nPath=out/export.jsonl\nFormat=ecs\nMaxFileMiB=1\n",
            "keep.conf": "[Export]\nKeepFiles=30\n",
        ])
        #expect(config.export.path.hasPrefix("/") && config.export.path.hasSuffix("/out/export.jsonl"))
        #expect(config.export.format == .ecs && config.export.maxFileMiB == 1 && config.export.keepFiles == 30)
        #expect(config.settings["Export.Format"] == "ecs")
    }

    @Test func badValuesAreRefusedWithTheirLine() throws {
        let problems = try AlertSettingsTests.problems("[Export]\nFormat=cef\nMaxFileMiB=0\nKeepFiles=many\n")
        #expect(
            problems == [
                "2: Export.Format: expected ocsf or ecs",
                "3: Export.MaxFileMiB: expected an integer from 1 to 65536",
                "4: Export.KeepFiles: expected an integer from 1 to 1000",
            ])
    }
}
