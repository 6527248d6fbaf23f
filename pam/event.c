/* The event as a request line (docs/protocol.md, `emit`), built from bytes PAM and the user
 * chose: every string is escaped, checked as UTF-8 and bounded. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "pam_authsignal.h"

void buffer_append(struct buffer *buffer, const void *bytes, size_t count) {
    if (buffer->failed) return;
    if (buffer->length + count > buffer->capacity) {
        size_t capacity = buffer->capacity ? buffer->capacity : 512;
        while (capacity < buffer->length + count) capacity *= 2;
        char *grown = realloc(buffer->data, capacity);
        if (!grown) {
            buffer->failed = 1;
            return;
        }
        buffer->data = grown;
        buffer->capacity = capacity;
    }
    memcpy(buffer->data + buffer->length, bytes, count);
    buffer->length += count;
}

void buffer_append_string(struct buffer *buffer, const char *string) {
    buffer_append(buffer, string, strlen(string));
}

void buffer_free(struct buffer *buffer) {
    if (buffer->data) explicit_bzero(buffer->data, buffer->capacity);
    free(buffer->data);
    *buffer = (struct buffer){0};
}

/* The length of the well-formed UTF-8 character at `bytes` (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), or 0 when it is not one. */
static size_t utf8_length(const unsigned char *bytes, size_t available) {
    unsigned char lead = bytes[0];
    size_t count;
    unsigned char low = 0x80, high = 0xBF;
    if (lead < 0x80) return 1;
    if (lead >= 0xC2 && lead <= 0xDF) count = 2;
    else if (lead >= 0xE0 && lead <= 0xEF) {
        count = 3;
        if (lead == 0xE0) low = 0xA0;
        if (lead == 0xED) high = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        count = 4;
        if (lead == 0xF0) low = 0x90;
        if (lead == 0xF4) high = 0x8F;
    } else
        return 0;
    if (available < count) return 0;
    if (bytes[1] < low || bytes[1] > high) return 0;
    for (size_t index = 2; index < count; index++)
        if (bytes[index] < 0x80 || bytes[index] > 0xBF) return 0;
    return count;
}

int json_string(struct buffer *out, const char *string, size_t max) {
    const unsigned char *bytes = (const unsigned char *)string;
    size_t total = strlen(string), index = 0;
    buffer_append(out, "\"", 1);
    while (index < total) {
        size_t length = utf8_length(bytes + index, total - index);
        size_t consumed = length ? length : 1;
        if (index + consumed > max) break;
        unsigned char byte = bytes[index];
        if (!length) {
            buffer_append(out, "\xEF\xBF\xBD", 3);
        } else if (byte == '"' || byte == '\\') {
            char escaped[2] = {'\\', (char)byte};
            buffer_append(out, escaped, 2);
        } else if (byte < 0x20 || byte == 0x7F) {
            char escaped[8];
            snprintf(escaped, sizeof escaped, "\\u%04x", byte);
            buffer_append(out, escaped, 6);
        } else {
            buffer_append(out, bytes + index, length);
        }
        index += consumed;
    }
    buffer_append(out, "\"", 1);
    return index < total;
}

void event_stamp(struct event *event) {
    unsigned char random[16];
    if (getrandom(random, sizeof random, GRND_NONBLOCK) != (ssize_t)sizeof random) {
        /* Only before the kernel's pool is ready: the id must be unique, not secret. */
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        uint64_t mixed[2] = {(uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec,
                             ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)event};
        memcpy(random, mixed, sizeof random);
    }
    random[6] = (random[6] & 0x0F) | 0x40; /* a version 4 UUID */
    random[8] = (random[8] & 0x3F) | 0x80;
    snprintf(event->id, sizeof event->id,
             "pam-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", random[0], random[1],
             random[2], random[3], random[4], random[5], random[6], random[7], random[8], random[9], random[10],
             random[11], random[12], random[13], random[14], random[15]);

    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    event->micros = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
    struct tm utc;
    time_t seconds = now.tv_sec;
    gmtime_r(&seconds, &utc);
    snprintf(event->time, sizeof event->time, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", utc.tm_year + 1900,
             utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, now.tv_nsec / 1000);
}

/* The sender: the service with every control character (and any byte that is not part of a
 * well-formed character) replaced by '?', at most MAX_SENDER_BYTES bytes, since the daemon
 * refuses a sender with control characters and would then keep nothing. */
static void sender(struct buffer *line, const char *service) {
    char safe[MAX_SENDER_BYTES + 1];
    const unsigned char *bytes = (const unsigned char *)service;
    size_t total = strlen(service), index = 0, used = 0;
    while (index < total) {
        size_t length = utf8_length(bytes + index, total - index);
        int usable = length > 0 && bytes[index] >= 0x20 && bytes[index] != 0x7F;
        size_t produced = usable ? length : 1;
        if (used + produced > MAX_SENDER_BYTES) break;
        if (usable)
            memcpy(safe + used, bytes + index, length);
        else
            safe[used] = '?';
        used += produced;
        index += length ? length : 1;
    }
    safe[used] = 0;
    json_string(line, used ? safe : "pam", sizeof safe);
}

/* Appends `,"key":"value"` to the request object when `value` is set; records a cut. */
static void member(struct buffer *line, const char *key, const char *value, size_t max, const char **truncated,
                   size_t *cuts) {
    if (!value || !*value) return;
    buffer_append_string(line, ",\"");
    buffer_append_string(line, key);
    buffer_append_string(line, "\":");
    if (json_string(line, value, max)) truncated[(*cuts)++] = key;
}

void event_line(struct buffer *line, const struct event *event) {
    const char *truncated[6];
    size_t cuts = 0;
    buffer_append_string(line, "{\"op\":\"emit\",\"signal\":\"");
    buffer_append_string(line, event->signal);
    buffer_append_string(line, "\",\"sender\":");
    sender(line, event->service && *event->service ? event->service : "pam");
    if (event->user && *event->user) {
        buffer_append_string(line, ",\"user\":");
        if (json_string(line, event->user, MAX_USER_BYTES)) truncated[cuts++] = "user";
    }
    /* The request object always has the service's member (a PAM event always has one). */
    buffer_append_string(line, ",\"request\":{\"service\":");
    if (json_string(line, event->service && *event->service ? event->service : "pam", MAX_ITEM_BYTES))
        truncated[cuts++] = "service";
    member(line, "remote_addr", event->rhost, MAX_ITEM_BYTES, truncated, &cuts);
    member(line, "tty", event->tty, MAX_ITEM_BYTES, truncated, &cuts);
    member(line, "remote_user", event->ruser, MAX_ITEM_BYTES, truncated, &cuts);
    member(line, "pairing", event->pairing, 4 * MAX_ITEM_BYTES, truncated, &cuts);
    if (cuts) {
        buffer_append_string(line, ",\"truncated\":[");
        for (size_t index = 0; index < cuts; index++) {
            if (index) buffer_append_string(line, ",");
            json_string(line, truncated[index], 32);
        }
        buffer_append_string(line, "]");
    }
    buffer_append_string(line, "},\"time\":\"");
    buffer_append_string(line, event->time);
    buffer_append_string(line, "\",\"id\":\"");
    buffer_append_string(line, event->id);
    buffer_append_string(line, "\"}\n");
}
