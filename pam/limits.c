/* The limits a user sets before starting a setuid application (ulimit -n, ulimit -f) apply to
 * this module too. Root may raise them, and the application runs as root, so an event is
 * recorded whatever they were; they are put back before the module returns. */
#include <sys/resource.h>
#include <unistd.h>

#include "pam_authsignal.h"

/* The descriptors one event needs at most at once: the spool's walk (2), its listing, its
 * temporary file, the boot id, the daemon's socket and the journal's. */
#define FILES_NEEDED 8
/* The largest file the module writes: a sealed request line of the largest size. */
#define LARGEST_FILE (256 << 10)

/* Raises `resource`'s soft limit (`saved`) to `needed` when it is lower, and the hard limit with
 * it when that is lower too; whether the limit changed. */
static int raise_limit(int resource, rlim_t needed, const struct rlimit *saved) {
    if (saved->rlim_cur == RLIM_INFINITY || saved->rlim_cur >= needed) return 0;
    struct rlimit raised = *saved;
    raised.rlim_cur = needed;
    if (raised.rlim_max != RLIM_INFINITY && raised.rlim_max < needed) raised.rlim_max = needed;
    return setrlimit(resource, &raised) == 0;
}

void limits_raise(struct saved_limits *saved) {
    saved->files_raised = 0;
    saved->file_size_raised = 0;
    if (!getrlimit(RLIMIT_NOFILE, &saved->files))
        saved->files_raised = raise_limit(RLIMIT_NOFILE, saved->files.rlim_cur + FILES_NEEDED, &saved->files);
    if (!getrlimit(RLIMIT_FSIZE, &saved->file_size))
        saved->file_size_raised = raise_limit(RLIMIT_FSIZE, LARGEST_FILE, &saved->file_size);
}

void limits_restore(const struct saved_limits *saved) {
    if (saved->files_raised) setrlimit(RLIMIT_NOFILE, &saved->files);
    if (saved->file_size_raised) setrlimit(RLIMIT_FSIZE, &saved->file_size);
}
