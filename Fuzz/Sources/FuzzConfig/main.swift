import AuthSignalCore
import FuzzDriver

/// Any configuration text: applied or reported line by line, never a crash; every problem names
/// a line of the file.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    var config = DaemonConfig()
    var problems: [ConfigProblem] = []
    config.apply(text, file: "/fuzz/authsignald.conf", problems: &problems)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).count
    for problem in problems {
        precondition(problem.file == "/fuzz/authsignald.conf" && problem.line >= 1 && problem.line <= lines)
    }
    _ = config.settings
    return 0
}

runLibFuzzer { data, size in
    data.map { fuzzConfig(UnsafeRawPointer($0), size) } ?? fuzzConfig(UnsafeRawPointer(bitPattern: 1)!, 0)
}
