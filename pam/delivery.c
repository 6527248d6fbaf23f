/* One bounded exchange with the daemon: connect, send the request line, read the one answer
 * line. Every step is non-blocking and waits only until the deadline. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "pam_authsignal.h"

/* Milliseconds left until `deadline`, 0 once it has passed. */
static int remaining(const struct timespec *deadline) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long left = (long long)(deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
    return left > 0 ? (int)(left > 60000 ? 60000 : left) : 0;
}

/* Waits until `fd` is ready for `events`; 0 when ready, -1 at the deadline or on an error. */
static int await(int fd, short events, const struct timespec *deadline) {
    for (;;) {
        int left = remaining(deadline);
        if (!left) return -1;
        struct pollfd poller = {.fd = fd, .events = events};
        int ready = poll(&poller, 1, left);
        if (ready > 0) return 0;
        if (ready < 0 && errno != EINTR) return -1;
    }
}

/* Whether `answer` is the daemon's success line: {"ok":true,"seq":N}, perhaps with
 * "duplicate":true first (keys are sorted). */
static int is_success(const char *answer) {
    static const char plain[] = "{\"ok\":true,\"seq\":";
    static const char duplicate[] = "{\"duplicate\":true,\"ok\":true,\"seq\":";
    const char *rest;
    if (!strncmp(answer, plain, sizeof plain - 1))
        rest = answer + sizeof plain - 1;
    else if (!strncmp(answer, duplicate, sizeof duplicate - 1))
        rest = answer + sizeof duplicate - 1;
    else
        return 0;
    if (*rest < '0' || *rest > '9') return 0;
    while (*rest >= '0' && *rest <= '9') rest++;
    return !strcmp(rest, "}");
}

/* The error code of an error answer ({"error":{"code":"CODE",…},"ok":false}) copied to
 * `code`, or 0 when `answer` is not one. */
static int error_code(const char *answer, char *code, size_t size) {
    static const char prefix[] = "{\"error\":{\"code\":\"";
    if (strncmp(answer, prefix, sizeof prefix - 1)) return 0;
    const char *start = answer + sizeof prefix - 1;
    size_t length = strspn(start, "abcdefghijklmnopqrstuvwxyz_");
    if (!length || length >= size || start[length] != '"') return 0;
    memcpy(code, start, length);
    code[length] = 0;
    return 1;
}

enum outcome deliver(const char *socket_path, const struct buffer *line, const struct timespec *deadline, char *why,
                     size_t why_size) {
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (strlen(socket_path) >= sizeof address.sun_path) {
        snprintf(why, why_size, "the socket path is longer than %zu bytes", sizeof address.sun_path - 1);
        return LOST;
    }
    strcpy(address.sun_path, socket_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(why, why_size, "socket: %s", strerror(errno));
        return LOST;
    }
    enum outcome outcome = LOST;
    /* A full listen backlog answers EAGAIN at once (a Unix socket never connects in the
     * background): try again every 5 ms until the deadline. */
    while (connect(fd, (struct sockaddr *)&address, sizeof address) < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN || !remaining(deadline)) {
            snprintf(why, why_size, "cannot connect to %s: %s", socket_path,
                     errno == EAGAIN ? "no room in its backlog in time" : strerror(errno));
            goto done;
        }
        struct timespec pause = {0, 5000000};
        nanosleep(&pause, NULL);
    }
    size_t sent = 0;
    while (sent < line->length) {
        ssize_t count = send(fd, line->data + sent, line->length - sent, MSG_NOSIGNAL);
        if (count > 0) {
            sent += (size_t)count;
        } else if (count < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (await(fd, POLLOUT, deadline)) {
                snprintf(why, why_size, "authsignald took no request in time");
                goto done;
            }
        } else {
            snprintf(why, why_size, "sending to authsignald: %s", strerror(errno));
            goto done;
        }
    }
    char answer[1024];
    size_t have = 0;
    for (;;) {
        ssize_t count = recv(fd, answer + have, sizeof answer - 1 - have, 0);
        if (count > 0) {
            char *end = memchr(answer + have, '\n', (size_t)count);
            have += (size_t)count;
            if (end) {
                *end = 0;
                break;
            }
            if (have == sizeof answer - 1) {
                snprintf(why, why_size, "authsignald's answer is longer than expected");
                goto done;
            }
        } else if (count == 0) {
            snprintf(why, why_size, "authsignald closed the connection without an answer");
            goto done;
        } else if (errno == EAGAIN || errno == EINTR) {
            if (await(fd, POLLIN, deadline)) {
                snprintf(why, why_size, "authsignald did not answer in time");
                goto done;
            }
        } else {
            snprintf(why, why_size, "reading authsignald's answer: %s", strerror(errno));
            goto done;
        }
    }
    char code[64];
    if (is_success(answer)) {
        outcome = STORED;
    } else if (error_code(answer, code, sizeof code)) {
        snprintf(why, why_size, "authsignald answered %s", code);
        if (strcmp(code, "unavailable")) outcome = REFUSED;
    } else {
        snprintf(why, why_size, "authsignald's answer is not one of the protocol's");
    }
done:
    close(fd);
    return outcome;
}
