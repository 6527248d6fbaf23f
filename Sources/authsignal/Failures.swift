import ArgumentParser
import AuthSignalClient
import AuthSignalProtocol
import Foundation

/// The exit statuses of `authsignal` (docs/cli.md), and the one place errors are mapped to them.
enum ExitStatus: Int32 {
    /// `query`: no record matched; `pam --required`: the event was not stored.
    case nothing = 1
    /// The daemon refused the request as invalid (or the arguments were unusable).
    case invalid = 2
    /// The daemon, a database file or a journal could not be reached or read.
    case unavailable = 3
    /// The daemon refused the request: the caller may not do this.
    case forbidden = 4
    /// `verify` found the audit log tampered with.
    case tampered = 5

    /// The error to throw to exit with this status.
    var exit: ExitCode { ExitCode(rawValue) }

    /// The status for an error talking to the daemon.
    static func of(_ error: ClientError) -> ExitStatus {
        switch error {
        case .cannotConnect, .connectionLost, .badAnswer, .timedOut: .unavailable
        case .daemon(let code, _):
            switch ErrorCode(rawValue: code) {
            case .forbidden?: .forbidden
            case .invalidJSON?, .invalidRequest?, .tooLarge?: .invalid
            case .unavailable?, .internal?, nil: .unavailable
            }
        }
    }
}

/// Prints an error reading a database file or journal; exits ``ExitStatus/unavailable``.
func failReading(_ error: any Error) -> ExitCode {
    if let exit = error as? ExitCode { return exit }
    FileHandle.standardError.write(Data("authsignal: \(error)\n".utf8))
    return ExitStatus.unavailable.exit
}

/// Prints the error and gives the documented exit status.
func fail(_ error: any Error) -> ExitCode {
    if let exit = error as? ExitCode { return exit }
    FileHandle.standardError.write(Data("authsignal: \(error)\n".utf8))
    if let error = error as? ClientError { return ExitStatus.of(error).exit }
    return ExitStatus.invalid.exit
}
