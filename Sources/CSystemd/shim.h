#ifndef AUTHSIGNAL_CSYSTEMD_SHIM_H
#define AUTHSIGNAL_CSYSTEMD_SHIM_H

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-id128.h>
#include <systemd/sd-journal.h>

/* struct ucred (SO_PEERCRED) is declared by <sys/socket.h> only under _GNU_SOURCE, which Swift's
   Glibc module does not define. This copy has the same layout (see socket(7)). */
struct authsignal_ucred {
    pid_t pid;
    uid_t uid;
    gid_t gid;
};

#endif
