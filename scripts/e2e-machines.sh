# Sourced by scripts/systemd-e2e and scripts/systemd-fleet-e2e: booted Debian machines for end-to-end
# tests. A minimal root (debootstrap from this machine's configured mirror, cached in
# $AUTHSIGNAL_E2E_CACHE, default /var/cache/authsignal-e2e) is copied per machine and booted with
# systemd-nspawn in a cgroup of its own; `inside NAME COMMAND…` runs a command in a machine with
# nsenter. The caller sets `run` (a scratch directory) and calls `machines_cleanup` on exit.

cache=${AUTHSIGNAL_E2E_CACHE:-/var/cache/authsignal-e2e}
# The packages of the root: its cache name carries a digest of the list, so a changed list makes
# a new root instead of reusing one without the new packages.
machine_packages=libsodium23,exim4-daemon-light,rsyslog,curl,systemd,systemd-sysv,dbus,procps,libsqlite3-0,sqlite3,python3,python3-cffi-backend,python3-paramiko,openssh-server,openssh-client,sshpass,fail2ban,python3-systemd,pamtester,openssl,systemd-journal-remote,nginx-light,libnginx-mod-stream

declare -A machine_leader=() machine_nspawn=()
machine_cgroups=()

# machines_preflight SCRIPT: exits 77, saying why, where this machine cannot boot containers;
# installs the host tools that are missing.
machines_preflight() {
    local script=$1
    if [[ $(id -u) -ne 0 ]]; then
        echo "$script: skipped: needs root (debootstrap, nspawn)" >&2
        exit 77
    fi
    if ! unshare --mount --pid --uts --ipc --fork true 2>/dev/null; then
        echo "$script: skipped: this kernel or sandbox does not let root create namespaces" >&2
        exit 77
    fi
    if ! mkdir "/sys/fs/cgroup/authsignal-e2e-probe-$$" 2>/dev/null &&
        ! mkdir "/sys/fs/cgroup/systemd/authsignal-e2e-probe-$$" 2>/dev/null; then
        echo "$script: skipped: cannot create a cgroup under /sys/fs/cgroup for the container" >&2
        exit 77
    fi
    rmdir "/sys/fs/cgroup/authsignal-e2e-probe-$$" "/sys/fs/cgroup/systemd/authsignal-e2e-probe-$$" 2>/dev/null || true
    # systemd-container without its recommends: they edit this host's nsswitch.conf.
    local missing=()
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
    command -v nsenter >/dev/null || missing+=(util-linux)
    command -v ip >/dev/null || missing+=(iproute2)
    if ((${#missing[@]})); then
        echo "$script: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
}

# machines_rootfs: sets `base` to the cached root, provisioning it first when missing.
machines_rootfs() {
    # The distribution and mirror this machine's apt uses (never a hard-coded host).
    local codename mirror="" sources started
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    for sources in /etc/apt/sources.list.d/*.sources; do
        [[ -f "$sources" ]] || continue
        mirror=$(awk -v suite="$codename" '
            /^URIs:/ { uri = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) found = uri }
            /^$/ { uri = "" } END { print found }' "$sources")
        [[ -n "$mirror" ]] && break
    done
    if [[ -z "$mirror" && -f /etc/apt/sources.list ]]; then
        mirror=$(awk -v suite="$codename" '$1 == "deb" && $3 == suite { print $2; exit }' /etc/apt/sources.list)
    fi
    if [[ -z "$codename" || -z "$mirror" ]]; then
        echo "cannot tell the Debian release and mirror from /etc/os-release and apt" >&2
        exit 1
    fi
    base="$cache/rootfs-$codename-$(sha256sum <<<"$machine_packages" | cut -c1-12)"
    [[ -f "$base/.complete" ]] && return
    started=$(date +%s)
    echo "== provisioning $base from $mirror ($codename)"
    rm -rf "$base.partial"
    mkdir -p "$cache"
    debootstrap --variant=minbase --include="$machine_packages" \
        "$codename" "$base.partial" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
        { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
    echo authsignal-e2e >"$base.partial/etc/hostname"
    # A container has no consoles to get; the packages' own services start only where a test
    # enables them.
    ln -sf /dev/null "$base.partial/etc/systemd/system/getty.target"
    for unit in nginx.service; do ln -sf /dev/null "$base.partial/etc/systemd/system/$unit"; done
    rm -rf "$base"
    mv "$base.partial" "$base"
    touch "$base/.complete"
    echo "   provisioned in $(($(date +%s) - started)) s"
}

# machine_root NAME: a fresh copy of the root for machine NAME, its hostname NAME; prints its path.
machine_root() {
    local root="$run/$1"
    cp -a --reflink=auto "$base" "$root"
    echo "$1" >"$root/etc/hostname"
    echo "$root"
}

# machine_boot NAME ROOT [NSPAWN-ARGUMENT…]: boots ROOT as NAME in a cgroup of its own and waits
# until its systemd has finished booting. Returns 1, saying why, when it does not come up.
machine_boot() {
    local name=$1 root=$2 hierarchy directories=() directory leader="" state=""
    shift 2
    for hierarchy in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified /sys/fs/cgroup; do
        if [[ -f "$hierarchy/cgroup.procs" ]]; then
            mkdir -p "$hierarchy/authsignal-e2e-$$-$name"
            directories+=("$hierarchy/authsignal-e2e-$$-$name")
            [[ "$hierarchy" == /sys/fs/cgroup ]] && break
        fi
    done
    machine_cgroups+=("${directories[@]}")
    (
        for directory in "${directories[@]}"; do echo "$BASHPID" >"$directory/cgroup.procs"; done
        exec systemd-nspawn --quiet --directory="$root" --boot --register=no --keep-unit \
            --console=read-only --machine="$name" "$@"
    ) >"$run/$name-console.log" 2>&1 &
    machine_nspawn[$name]=$!
    # The machine's PID 1: nspawn's child, systemd.
    for _ in $(seq 200); do
        leader=$(pgrep -P "${machine_nspawn[$name]}" -x systemd 2>/dev/null || true)
        [[ -n "$leader" ]] && break
        sleep 0.05
    done
    if [[ -z "$leader" ]]; then
        echo "FAIL boot $name: no systemd came up in the container" >&2
        tail -30 "$run/$name-console.log" >&2
        return 1
    fi
    machine_leader[$name]=$leader
    # Until its systemd answers on its bus and has finished booting.
    for _ in $(seq 300); do
        state=$(nsenter --target "$leader" --all -- systemctl is-system-running 2>/dev/null || true)
        [[ "$state" == running || "$state" == degraded ]] && break
        sleep 0.2
    done
    if [[ "$state" != running && "$state" != degraded ]]; then
        echo "FAIL boot $name: the container's systemd did not finish booting (state: ${state:-no answer})" >&2
        tail -30 "$run/$name-console.log" >&2
        return 1
    fi
}

# inside NAME COMMAND…: runs COMMAND in machine NAME, as root, with a clean environment.
inside() {
    local name=$1
    shift
    nsenter --target "${machine_leader[$name]}" --all -- /usr/bin/env -i PATH=/usr/bin:/bin:/usr/sbin:/sbin "$@"
}

# machine_install NAME DEB: installs the package as an admin would, with apt, into the running
# system: its maintainer scripts create the user and directories, update the catalog and start
# the units.
machine_install() {
    local name=$1 deb=$2
    install -m 0644 "$deb" "$run/$name/root/authsignal.deb"
    inside "$name" /usr/bin/env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        /root/authsignal.deb >"$run/$name-apt-install.log" 2>&1 ||
        { echo "FAIL apt install ./authsignal.deb on $name:"; tail -20 "$run/$name-apt-install.log"; return 1; }
}

# machines_cleanup: stops every machine and removes its cgroups.
machines_cleanup() {
    local name pid directory
    for name in "${!machine_nspawn[@]}"; do
        pid=${machine_nspawn[$name]}
        kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null
    done
    for name in "${!machine_nspawn[@]}"; do
        pid=${machine_nspawn[$name]}
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    for directory in "${machine_cgroups[@]}"; do
        # Depth first: the container's systemd made cgroups below ours.
        find "$directory" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
}
