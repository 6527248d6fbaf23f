/// Which command the multi-call binary runs, chosen by the last component of `argv[0]`: started as
/// `authsignald` (the installed link) it is the daemon, under any other name the CLI.
enum Program: Equatable {
    case daemon
    case client

    init(invokedAs path: String) {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        self = name == "authsignald" ? .daemon : .client
    }
}
