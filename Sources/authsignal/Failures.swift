import ArgumentParser
import AuthSignalClient
import AuthSignalCore
import Foundation

/// Prints an error reading a database file or journal; exit status 3 (unavailable).
func failReading(_ error: any Error) -> ExitCode {
    if let exit = error as? ExitCode { return exit }
    FileHandle.standardError.write(Data("authsignal: \(error)\n".utf8))
    return ExitCode(3)
}

/// Prints the error and gives the documented exit status.
func fail(_ error: any Error) -> ExitCode {
    if let exit = error as? ExitCode { return exit }
    FileHandle.standardError.write(Data("authsignal: \(error)\n".utf8))
    if let error = error as? ClientError { return ExitCode(error.exitStatus) }
    return ExitCode(2)
}
