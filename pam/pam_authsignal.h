/*
 * pam_authsignal: records PAM authentication events with authsignald from inside the PAM
 * application's own process (docs/pam.md). The internal interface between its parts.
 *
 * Everything here runs in sshd, login, su or sudo, under whatever limits the user who started
 * them chose: no fork or exec, no threads, a few kilobytes of heap, a small stack, file
 * descriptors only while an event is on its way, and no call that can wait longer than the
 * module's time bound (in particular no syslog(3), which blocks when journald does).
 */
#ifndef PAM_AUTHSIGNAL_H
#define PAM_AUTHSIGNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <time.h>

/* A growing byte buffer; `failed` is set, and stays set, once an allocation failed. */
struct buffer {
    char *data;
    size_t length;
    size_t capacity;
    int failed;
};

void buffer_append(struct buffer *buffer, const void *bytes, size_t count);
void buffer_append_string(struct buffer *buffer, const char *string);
void buffer_free(struct buffer *buffer);

/* Bounds on what one event carries from PAM (a longer value is cut and named in `truncated`). */
#define MAX_USER_BYTES 1024
#define MAX_ITEM_BYTES 1024
#define MAX_SENDER_BYTES 256

/* The event the PAM items describe, as the `emit` request line of docs/protocol.md. */
struct event {
    const char *signal;   /* user_logged_in, user_logged_out, user_login_failed, password_changed… */
    const char *service;  /* PAM_SERVICE, or NULL */
    const char *user;     /* PAM_USER, or NULL */
    const char *rhost;    /* PAM_RHOST, or NULL */
    const char *tty;      /* PAM_TTY, or NULL */
    const char *ruser;    /* PAM_RUSER, or NULL */
    const char *pairing;  /* BOOT_ID/PID/SERVICE/TTY for sessions, or NULL */
    char id[48];          /* pam-<uuid>: its idempotency id */
    char time[40];        /* when it happened, RFC 3339 with microseconds */
    int64_t micros;       /* the same time in microseconds since the epoch (the spool's name) */
};

/* Fills the event's id and time. */
void event_stamp(struct event *event);
/* Appends the event's request line, ending in '\n'. */
void event_line(struct buffer *line, const struct event *event);
/* Appends `bytes` as a JSON string: escaped, invalid UTF-8 replaced by U+FFFD, and cut at a
 * character boundary before `max` bytes of input; returns whether it was cut. */
int json_string(struct buffer *out, const char *bytes, size_t max);

/* What became of an event. */
enum outcome { STORED, SPOOLED, REFUSED, LOST };

/* Sends `line` to the daemon at `socket_path` and waits for its answer until `deadline`
 * (CLOCK_MONOTONIC). STORED, REFUSED (the daemon answered with an error other than
 * `unavailable`: spooling would change nothing) or LOST (not reached, or no answer in time: the
 * caller spools it). `why` receives the reason. */
enum outcome deliver(const char *socket_path, const struct buffer *line, const struct timespec *deadline,
                     char *why, size_t why_size);

/* Seals `line` to the daemon's key and leaves it in the spool `directory`, durably. Returns 0,
 * or -1 with the reason in `why`. */
int spool_write(const char *directory, const struct buffer *line, const struct event *event, char *why,
                size_t why_size);

/* HPKE (RFC 9180) base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305, one
 * message: writes the 32-byte encapsulated key to `enc` and the ciphertext (count + 16 bytes) to
 * `sealed`. `ephemeral` is the sender's 32-byte ephemeral secret. Returns 0, or -1 for a
 * recipient key whose shared secret is all zeros. */
int hpke_seal(const uint8_t recipient[32], const uint8_t ephemeral[32], const uint8_t *info, size_t info_count,
              const uint8_t *plaintext, size_t count, uint8_t enc[32], uint8_t *sealed);

/* One journal entry for an event not stored now (never its user: it may be a password typed at
 * the username prompt), sent without waiting. */
void report(const char *message, const char *result, int priority, const char *id);

/* Limits the user who started the application may have lowered, raised while an event is on
 * its way (root may, and the application runs as root) and put back afterwards. */
struct saved_limits {
    struct rlimit files;
    struct rlimit file_size;
    int files_raised;
    int file_size_raised;
};

void limits_raise(struct saved_limits *saved);
void limits_restore(const struct saved_limits *saved);

#endif
