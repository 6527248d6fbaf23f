/*
 * pam_authsignal: the PAM module that records logins, logouts and failed logins with
 * authsignald (docs/pam.md). It runs inside the PAM application (sshd, login, su, sudo): no
 * fork or exec, so neither the user's limits nor their signals can stop a separate process, and
 * one bounded exchange with the daemon, or a sealed file in the spool when the daemon cannot
 * answer in time.
 *
 *   auth     [default=ignore] pam_authsignal.so     (reached on failure only: user_login_failed)
 *   session  optional         pam_authsignal.so     (user_logged_in, user_logged_out)
 *   password [default=ignore] pam_authsignal.so failed   (reached on failure only:
 *                                                         password_change_failed)
 *   password optional         pam_authsignal.so     (last, reached on success: password_changed)
 *
 * It never reads the password (PAM_AUTHTOK, PAM_OLDAUTHTOK).
 * Options: socket=PATH, spool=DIR, timeout=MILLISECONDS (default 500), fail_closed, failed.
 */
#define PAM_SM_AUTH
#define PAM_SM_SESSION
#define PAM_SM_PASSWORD
#include <errno.h>
#include <fcntl.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pam_authsignal.h"

#define EXPORTED __attribute__((visibility("default")))

/* The module's arguments in the PAM configuration. */
struct options {
    const char *socket_path;
    const char *spool;
    int timeout_ms;
    /* Deny (the stack's result, for a `required` line) when an event is neither stored nor
     * spooled, instead of letting the login go on unrecorded. */
    int fail_closed;
    /* A password line reached when the change failed (records password_change_failed). */
    int failed;
};

static void parse_options(int argc, const char **argv, struct options *options) {
    *options = (struct options){
        .socket_path = "/run/authsignald/authsignald.sock",
        .spool = "/var/spool/authsignal",
        .timeout_ms = 500,
    };
    for (int index = 0; index < argc; index++) {
        const char *argument = argv[index];
        char *end = NULL;
        if (!strncmp(argument, "socket=", 7)) {
            options->socket_path = argument + 7;
        } else if (!strncmp(argument, "spool=", 6)) {
            options->spool = argument + 6;
        } else if (!strncmp(argument, "timeout=", 8)) {
            errno = 0;
            long milliseconds = strtol(argument + 8, &end, 10);
            if (errno || end == argument + 8 || *end || milliseconds < 1 || milliseconds > 60000)
                report("pam_authsignal: timeout= takes milliseconds from 1 to 60000; using 500", NULL, 3, NULL);
            else
                options->timeout_ms = (int)milliseconds;
        } else if (!strcmp(argument, "fail_closed")) {
            options->fail_closed = 1;
        } else if (!strcmp(argument, "failed")) {
            options->failed = 1;
        } else {
            char message[160];
            snprintf(message, sizeof message, "pam_authsignal: unknown option %.64s (ignored)", argument);
            report(message, NULL, 3, NULL);
        }
    }
}

/* What names one PAM session at both of its ends (docs/pam.md): this boot's id, this process
 * (open_session and close_session of one session run in the same one), the service and the tty;
 * NULL when the boot id cannot be read. The same key as the `authsignal pam` hook's. */
static char *pairing_key(const char *service, const char *tty) {
    char boot[64] = {0};
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    ssize_t count = read(fd, boot, sizeof boot - 1);
    close(fd);
    while (count > 0 && (boot[count - 1] == '\n' || boot[count - 1] == ' ')) boot[--count] = 0;
    if (count <= 0) return NULL;
    size_t size = strlen(boot) + 32 + (service ? strlen(service) : 0) + (tty ? strlen(tty) : 0);
    char *key = malloc(size);
    if (key) snprintf(key, size, "%s/%ld/%s/%s", boot, (long)getpid(), service ? service : "", tty ? tty : "");
    return key;
}

static const char *item(pam_handle_t *pamh, int type) {
    const void *value = NULL;
    return pam_get_item(pamh, type, &value) == PAM_SUCCESS ? value : NULL;
}

/* Reports an event not stored now: what became of it and why, never its user. */
static void report_outcome(enum outcome outcome, const struct event *event, const char *why, const char *path) {
    char message[1024];
    const char *service = event->service && *event->service ? event->service : "pam";
    switch (outcome) {
    case STORED:
        return;
    case SPOOLED:
        snprintf(message, sizeof message, "authsignal pam: %s from %.64s spooled as %s for authsignald: %s",
                 event->signal, service, path, why);
        report(message, "spooled", 4, event->id);
        return;
    case REFUSED:
        snprintf(message, sizeof message, "authsignal pam: %s from %.64s refused by authsignald: %s", event->signal,
                 service, why);
        report(message, "refused", 3, event->id);
        return;
    case LOST:
        snprintf(message, sizeof message, "authsignal pam: %s from %.64s lost: %s", event->signal, service, why);
        report(message, "lost", 2, event->id);
        return;
    }
}

/* Records `signal` for the PAM transaction: delivered by the deadline, else spooled, else
 * reported lost. */
static enum outcome record(pam_handle_t *pamh, const char *signal, const struct options *options) {
    struct saved_limits limits;
    limits_raise(&limits);
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += options->timeout_ms / 1000;
    deadline.tv_nsec += (long)(options->timeout_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    struct event event = {
        .signal = signal,
        .service = item(pamh, PAM_SERVICE),
        .user = item(pamh, PAM_USER),
        .rhost = item(pamh, PAM_RHOST),
        .tty = item(pamh, PAM_TTY),
        .ruser = item(pamh, PAM_RUSER),
    };
    /* Only a session's two ends are paired. */
    int session = !strcmp(signal, "user_logged_in") || !strcmp(signal, "user_logged_out");
    char *pairing = session ? pairing_key(event.service, event.tty) : NULL;
    event.pairing = pairing;
    event_stamp(&event);
    struct buffer line = {0};
    event_line(&line, &event);
    char why[512], path[512];
    enum outcome outcome = LOST;
    if (line.failed) {
        snprintf(why, sizeof why, "out of memory for the event");
    } else {
        outcome = deliver(options->socket_path, &line, &deadline, why, sizeof why);
        if (outcome == LOST) {
            if (!spool_write(options->spool, &line, &event, path, sizeof path)) {
                outcome = SPOOLED;
            } else {
                size_t used = strlen(why);
                snprintf(why + used, sizeof why - used, "; not spooled: %s", path);
            }
        }
    }
    report_outcome(outcome, &event, why, path);
    buffer_free(&line);
    free(pairing);
    limits_restore(&limits);
    return outcome;
}

/* Records `signal` for the entry point called with `argc`/`argv`: its result is `result`, or
 * `denied` when fail_closed and the event is neither stored nor spooled. */
static int entry(pam_handle_t *pamh, int argc, const char **argv, const char *signal, int result, int denied) {
    struct options options;
    parse_options(argc, argv, &options);
    enum outcome outcome = record(pamh, signal, &options);
    return options.fail_closed && outcome != STORED && outcome != SPOOLED ? denied : result;
}

EXPORTED int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    (void)flags;
    return entry(pamh, argc, argv, "user_login_failed", PAM_IGNORE, PAM_AUTH_ERR);
}

EXPORTED int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    (void)pamh, (void)flags, (void)argc, (void)argv;
    return PAM_IGNORE;
}

EXPORTED int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    (void)flags;
    return entry(pamh, argc, argv, "user_logged_in", PAM_SUCCESS, PAM_SESSION_ERR);
}

EXPORTED int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    (void)flags;
    return entry(pamh, argc, argv, "user_logged_out", PAM_SUCCESS, PAM_SESSION_ERR);
}

/* The password stack runs twice: PAM_PRELIM_CHECK (nothing changed yet; a wrong current password
 * fails here), then PAM_UPDATE_AUTHTOK. A `failed` line is reached only when the module before
 * it failed, in either phase, and the stack stops there, so it records once; a success line
 * records in the update phase only, when the password has been changed. */
EXPORTED int pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    struct options options;
    parse_options(argc, argv, &options);
    if (!options.failed && !(flags & PAM_UPDATE_AUTHTOK)) return PAM_IGNORE;
    return entry(pamh, argc, argv, options.failed ? "password_change_failed" : "password_changed", PAM_IGNORE,
                 PAM_AUTHTOK_ERR);
}
