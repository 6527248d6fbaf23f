/* Reports to the journal through its native protocol on a non-blocking datagram socket: a
 * stopped or frozen journald gets no report, and the login goes on (docs/journal.md, "Logging").
 * syslog(3) and pam_syslog(3) would block there instead. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "pam_authsignal.h"

/* Appends `NAME=value\n`, with every control character in the value made a space (the
 * protocol's simple form ends a value at its newline). */
static void field(struct buffer *entry, const char *name, const char *value) {
    buffer_append_string(entry, name);
    buffer_append(entry, "=", 1);
    for (const char *byte = value; *byte; byte++) {
        char safe = (unsigned char)*byte < 0x20 ? ' ' : *byte;
        buffer_append(entry, &safe, 1);
    }
    buffer_append(entry, "\n", 1);
}

void report(const char *message, const char *result, int priority, const char *id) {
    struct buffer entry = {0};
    char level[2] = {(char)('0' + priority), 0};
    field(&entry, "MESSAGE", message);
    field(&entry, "PRIORITY", level);
    field(&entry, "SYSLOG_IDENTIFIER", "authsignal-pam");
    field(&entry, "AUTHSIGNAL_HOOK_RESULT", result);
    if (id) field(&entry, "AUTHSIGNAL_HOOK_ID", id);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0 && !entry.failed) {
        struct sockaddr_un journald = {.sun_family = AF_UNIX, .sun_path = "/run/systemd/journal/socket"};
        ssize_t sent = sendto(fd, entry.data, entry.length, MSG_NOSIGNAL | MSG_DONTWAIT,
                              (struct sockaddr *)&journald, sizeof journald);
        (void)sent; /* Nothing else may be done: the report must not hold the login up. */
    }
    if (fd >= 0) close(fd);
    buffer_free(&entry);
}
