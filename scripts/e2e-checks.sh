# The check helpers of the booted suites, sourced by scripts/systemd-fleet-e2e and, inside the
# container scripts/systemd-e2e boots (which copies this file beside them), by
# scripts/systemd-e2e-checks and scripts/systemd-e2e-package-checks. Each check prints one PASS
# or FAIL line, with the reason, and is counted in `passes` or `failures`.

passes=0
failures=0
pass() { echo "PASS $1"; passes=$((passes + 1)); }
fail() { echo "FAIL $1: $2"; failures=$((failures + 1)); }
# expect NAME CONDITION-COMMAND... REASON-IF-NOT: the last argument explains a failure.
expect() {
    local name=$1 reason=${*: -1}
    local command=("${@:2:$#-2}")
    if "${command[@]}" >/dev/null 2>&1; then pass "$name"; else fail "$name" "$reason"; fi
}
wait_for() { # wait_for SECONDS COMMAND...
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS >= deadline)) && return 1
        sleep 0.2
    done
}
# main_pid: the process id of this machine's authsignald.service.
main_pid() { systemctl show -p MainPID --value authsignald.service; }
