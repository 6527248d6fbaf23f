/* The spool (docs/pam.md, "Who may write to the spool"): an event the daemon could not take in
 * time, sealed to the daemon's key so that a password typed as a user name never rests on disk
 * readable, written to a temporary file, synced and renamed into place. The same checks and the
 * same file format as the `authsignal pam` hook (Sources/AuthSignalCore/Spool.swift). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "pam_authsignal.h"

static const char magic[] = "authsignal-spool-1\n";
static const char hpke_info[] = "authsignal spool v1";

#define MAXIMUM_FILES 10000
#define MINIMUM_FREE_BYTES (64ull << 20)

/* Why a directory on the way to the spool cannot be trusted, or NULL: it must belong to root or
 * to this process's user, and nobody else may write to it unless it is sticky (as /tmp is). */
static const char *untrusted_parent(const struct stat *info, uid_t euid) {
    if (info->st_uid != 0 && info->st_uid != euid) return "belongs to another user";
    if ((info->st_mode & 022) && !(info->st_mode & S_ISVTX)) return "may be written by others";
    return NULL;
}

/* Opens the spool directory `path` one component at a time from /, never following a symbolic
 * link; its descriptor (with `info` filled) or -1 with the reason in `why`. */
static int open_directory(const char *path, struct stat *info, char *why, size_t why_size) {
    uid_t euid = geteuid();
    if (path[0] != '/') {
        snprintf(why, why_size, "the spool %s is not an absolute path", path);
        return -1;
    }
    char *copy = strdup(path);
    if (!copy) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    int current = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    struct stat parent = {0};
    int components = 0;
    char *saveptr = NULL;
    for (char *name = strtok_r(copy, "/", &saveptr); name && current >= 0; name = strtok_r(NULL, "/", &saveptr)) {
        if (!strcmp(name, ".")) continue;
        if (!strcmp(name, "..")) {
            snprintf(why, why_size, "the spool %s names ..", path);
            goto refused;
        }
        if (fstat(current, &parent)) {
            snprintf(why, why_size, "the spool %s: %s", path, strerror(errno));
            goto refused;
        }
        const char *problem = untrusted_parent(&parent, euid);
        if (problem) {
            snprintf(why, why_size, "the spool cannot be trusted: the directory above %s %s", name, problem);
            goto refused;
        }
        int next = openat(current, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int code = errno;
        close(current);
        current = next;
        if (next < 0) {
            if (code == ENOTDIR || code == ELOOP)
                snprintf(why, why_size, "the spool cannot be trusted: %s is not a directory (a symbolic link is not followed)", name);
            else
                snprintf(why, why_size, "the spool %s: %s", path, strerror(code));
            free(copy);
            return -1;
        }
        components++;
    }
    free(copy);
    if (current < 0) {
        snprintf(why, why_size, "/: %s", strerror(errno));
        return -1;
    }
    if (!components) {
        snprintf(why, why_size, "the spool %s names no directory below /", path);
        close(current);
        return -1;
    }
    if (fstat(current, info)) {
        snprintf(why, why_size, "the spool %s: %s", path, strerror(errno));
        close(current);
        return -1;
    }
    if (info->st_uid != 0 && info->st_uid != euid && (parent.st_mode & 022)) {
        snprintf(why, why_size, "the spool cannot be trusted: %s belongs to uid %u, and its parent lets others create entries",
                 path, (unsigned)info->st_uid);
        close(current);
        return -1;
    }
    if (info->st_mode & 077) {
        snprintf(why, why_size, "the spool cannot be trusted: %s has mode %o; only its owner may use it (0700)", path,
                 (unsigned)(info->st_mode & 07777));
        close(current);
        return -1;
    }
    if (euid != 0 && euid != info->st_uid) {
        snprintf(why, why_size, "the spool cannot be trusted: only root and the daemon may write to it (uid %u); this module runs as uid %u",
                 (unsigned)info->st_uid, (unsigned)euid);
        close(current);
        return -1;
    }
    int fd = openat(current, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) snprintf(why, why_size, "the spool %s: %s", path, strerror(errno));
    close(current);
    return fd;
refused:
    free(copy);
    close(current);
    return -1;
}

/* The daemon's public key from `public.key`: a regular file of the directory's owner that
 * nobody else may change, holding exactly 32 bytes. */
static int public_key(int directory, uid_t owner, uint8_t key[32], char *why, size_t why_size) {
    int fd = openat(directory, "public.key", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            snprintf(why, why_size, "the spool cannot be trusted: no public.key: authsignald has never started");
        else
            snprintf(why, why_size, "the spool's public.key: %s", strerror(errno));
        return -1;
    }
    struct stat info;
    uint8_t bytes[33];
    ssize_t count = -1;
    if (fstat(fd, &info) || !S_ISREG(info.st_mode) || info.st_uid != owner || (info.st_mode & 022))
        snprintf(why, why_size,
                 "the spool cannot be trusted: public.key is not a file of the directory's owner that only it may change");
    else if ((count = read(fd, bytes, sizeof bytes)) != 32)
        snprintf(why, why_size, "the spool's public key is not a valid X25519 key");
    else
        memcpy(key, bytes, 32);
    close(fd);
    return count == 32 ? 0 : -1;
}

/* Whether there is room: fewer than MAXIMUM_FILES events wait and MINIMUM_FREE_BYTES are free. */
static int has_room(int directory, char *why, size_t why_size) {
    struct statvfs space;
    if (!fstatvfs(directory, &space) && (unsigned long long)space.f_bavail * space.f_frsize < MINIMUM_FREE_BYTES) {
        snprintf(why, why_size, "the spool is full: %llu MiB free on its file system",
                 ((unsigned long long)space.f_bavail * space.f_frsize) >> 20);
        return 0;
    }
    int listing = openat(directory, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *stream = listing >= 0 ? fdopendir(listing) : NULL;
    if (!stream) {
        if (listing >= 0) close(listing);
        return 1;
    }
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(stream))) {
        size_t length = strlen(entry->d_name);
        if (length > 6 && !strcmp(entry->d_name + length - 6, ".event") && ++count >= MAXIMUM_FILES) break;
    }
    closedir(stream);
    if (count >= MAXIMUM_FILES) {
        snprintf(why, why_size, "the spool is full: %d events wait in it", count);
        return 0;
    }
    return 1;
}

/* Writes all of `bytes` to `fd`. */
static int write_all(int fd, const uint8_t *bytes, size_t count) {
    while (count) {
        ssize_t written = write(fd, bytes, count);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) return -1;
        bytes += written;
        count -= (size_t)written;
    }
    return 0;
}

int spool_write(const char *path, const struct buffer *line, const struct event *event, char *why,
                size_t why_size) {
    struct stat info;
    int directory = open_directory(path, &info, why, why_size);
    if (directory < 0) return -1;
    int result = -1;
    uint8_t recipient[32], ephemeral[32], enc[32];
    size_t magic_count = sizeof magic - 1;
    size_t file_count = magic_count + 32 + line->length + crypto_aead_chacha20poly1305_ietf_ABYTES;
    uint8_t *file = NULL;
    if (public_key(directory, info.st_uid, recipient, why, why_size) || !has_room(directory, why, why_size)) goto done;
    if (sodium_init() < 0 || !(file = malloc(file_count))) {
        snprintf(why, why_size, "cannot seal: %s", file ? "libsodium did not start" : "out of memory");
        goto done;
    }
    randombytes_buf(ephemeral, sizeof ephemeral);
    memcpy(file, magic, magic_count);
    int sealed = hpke_seal(recipient, ephemeral, (const uint8_t *)hpke_info, sizeof hpke_info - 1, (const uint8_t *)line->data,
                           line->length, enc, file + magic_count + 32);
    sodium_memzero(ephemeral, sizeof ephemeral);
    if (sealed) {
        snprintf(why, why_size, "the spool's public key is not a valid X25519 key");
        goto done;
    }
    memcpy(file + magic_count, enc, 32);

    char name[128], temporary[160];
    snprintf(name, sizeof name, "%020" PRId64 "-%s.event", event->micros > 0 ? event->micros : 0, event->id);
    snprintf(temporary, sizeof temporary, ".%s.%ld", name, (long)getpid());
    int fd = openat(directory, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (fd < 0) {
        snprintf(why, why_size, "spool %s/%s: %s", path, temporary, strerror(errno));
        goto done;
    }
    /* The daemon reads it through its group, the directory's; the owner stays the writer's,
     * which the daemon takes as the sender. Should this fail, the daemon cannot read the file
     * and refuses it, loudly. */
    int regrouped = fchown(fd, (uid_t)-1, info.st_gid);
    (void)regrouped;
    int complete = !write_all(fd, file, file_count) && !fsync(fd);
    int code = errno;
    close(fd);
    if (!complete || renameat(directory, temporary, directory, name)) {
        if (complete) code = errno;
        unlinkat(directory, temporary, 0);
        snprintf(why, why_size, "spool %s/%s: %s", path, name, strerror(code));
        goto done;
    }
    fsync(directory);
    snprintf(why, why_size, "%s/%s", path, name);
    result = 0;
done:
    if (file) {
        sodium_memzero(file, file_count);
        free(file);
    }
    close(directory);
    return result;
}
