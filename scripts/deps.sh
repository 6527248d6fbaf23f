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
    "/usr/include/security/pam_modules.h:libpam0g-dev"
    "/usr/include/sodium.h:libsodium-dev"
    "make:make"
    "/lib/systemd/systemd-journal-remote:systemd-journal-remote"
)

# What only scripts/test needs: the tools admins run, tested for real (docs/fail2ban.md,
# docs/crowdsec.md, docs/metrics.md), the alert sinks' MTA and apprise (docs/alerts.md), the
# browser the evidence report is rendered in (docs/evidence.md), and what builds and checks the
# Debian package.
tool_packages=(
    "fail2ban-server:fail2ban"
    "/usr/lib/python3/dist-packages/systemd/journal.py:python3-systemd"
    "cscli:crowdsec"
    "promtool:prometheus"
    "prometheus-node-exporter:prometheus-node-exporter"
    "curl:curl"
    "dh:debhelper"
    "dpkg-buildpackage:dpkg-dev"
    "fakeroot:fakeroot"
    "lintian:lintian"
    "/usr/sbin/exim4:exim4-daemon-light"
    "apprise:apprise"
    "chromium-headless-shell:chromium-headless-shell"
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf:fonts-dejavu-core"
)

# Installs what is missing; $1 names the calling script in messages, the other arguments name
# the lists to check (default: required_packages).
ensure_packages() {
    local caller=$1 entry probe package
    shift
    local lists=("${@:-required_packages}") entries=() list
    for list in "${lists[@]}"; do
        local -n named=$list
        entries+=("${named[@]}")
        unset -n named
    done
    local missing=()
    for entry in "${entries[@]}"; do
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
        # crowdsec's postinst registers with its Central API on the network unless this file
        # already has content (its README.Debian); the tests use it offline.
        if [[ " ${missing[*]} " == *" crowdsec "* && ! -s /etc/crowdsec/online_api_credentials.yaml ]]; then
            mkdir -p /etc/crowdsec
            echo "# offline: no Central API (crowdsec README.Debian)" >/etc/crowdsec/online_api_credentials.yaml
        fi
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u)
    fi
}
