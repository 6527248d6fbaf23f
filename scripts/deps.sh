# Sourced by scripts/test and scripts/start: installs the Debian packages the build, the daemon and
# the tests need when they are missing.

# "command-or-file:package" pairs.
required_packages=(
    "git:git"
    "pkg-config:pkg-config"
    "/usr/include/sqlite3.h:libsqlite3-dev"
    "/usr/include/systemd/sd-journal.h:libsystemd-dev"
    "/lib/systemd/systemd-journald:systemd"
    "journalctl:systemd"
    "systemd-socket-activate:systemd"
    "systemd-cat:systemd"
    "unshare:util-linux"
    "setpriv:util-linux"
    "nsenter:util-linux"
    "utmpdump:util-linux"
    "useradd:passwd"
    "mount:mount"
    "gcc:gcc"
    "/usr/bin/python3:python3"
    "pamtester:pamtester"
    "chpasswd:passwd"
    "/lib/x86_64-linux-gnu/security/pam_exec.so:libpam-modules"
    "/lib/systemd/systemd-journal-remote:systemd-journal-remote"
)

# Installs what is missing; $1 names the calling script in messages.
ensure_packages() {
    local caller=$1 entry probe package
    local missing=()
    for entry in "${required_packages[@]}"; do
        probe="${entry%%:*}"
        package="${entry#*:}"
        if [[ "$probe" == /* ]]; then
            [[ -e "$probe" ]] || missing+=("$package")
        else
            command -v "$probe" >/dev/null 2>&1 || missing+=("$package")
        fi
    done
    if ((${#missing[@]})); then
        echo "$caller: installing ${missing[*]}"
        if [[ $(id -u) -ne 0 ]]; then
            echo "$caller: need root to install ${missing[*]}" >&2
            exit 1
        fi
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u)
    fi
}
