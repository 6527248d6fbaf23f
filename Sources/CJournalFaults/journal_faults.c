#include "journal_faults.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* SIGBUS from an access is delivered to the thread that made it: counting per thread tells a
   reader its own faults from those of readers on other threads. Initial-exec, so that the handler
   never calls into the dynamic loader. */
static __thread unsigned long absorbed_here __attribute__((tls_model("initial-exec")));
static long page_size;
static struct sigaction previous;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int install_error;

/* Maps a zero page over the faulting one when the fault is an access past the end of a mapped
   file (BUS_ADRERR); otherwise puts the previous disposition back and returns, so that the
   faulting instruction runs again and faults as it would have without this handler. */
static void absorb(int signal, siginfo_t *info, void *context) {
    (void)signal;
    (void)context;
    if (info->si_code == BUS_ADRERR && info->si_addr) {
        void *page = (void *)((uintptr_t)info->si_addr & ~(uintptr_t)(page_size - 1));
        if (mmap(page, (size_t)page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) !=
            MAP_FAILED) {
            absorbed_here++;
            return;
        }
    }
    sigaction(SIGBUS, &previous, NULL);
}

static void install(void) {
    page_size = sysconf(_SC_PAGESIZE);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = absorb;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGBUS, &action, &previous) != 0) install_error = errno;
}

int journal_faults_install(void) {
    pthread_once(&once, install);
    return install_error;
}

unsigned long journal_faults_on_this_thread(void) { return absorbed_here; }
