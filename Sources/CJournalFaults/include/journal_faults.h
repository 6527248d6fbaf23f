#ifndef AUTHSIGNAL_JOURNAL_FAULTS_H
#define AUTHSIGNAL_JOURNAL_FAULTS_H

/* libsystemd reads journal files through memory maps. When journald shrinks a file a reader has
   mapped (it truncates archived files in systemd 250-254, systemd#24320, and truncates deleted ones
   where the file system cannot punch holes, systemd#33277), the reader's next access past the new
   end raises SIGBUS and kills it. journalctl survives by mapping zeros over the page that faulted
   and checking afterwards; this does the same for authsignal's readers (docs/journal.md). */

/* Installs the SIGBUS handler, once per process: a fault on a mapped page past the end of its file
   is absorbed (the page reads as zeros) and counted; any other SIGBUS does what it did before.
   Returns 0, or an errno value. */
int journal_faults_install(void);

/* How many faults the handler has absorbed on the calling thread since it started: a fault is
   taken by the thread whose access made it. */
unsigned long journal_faults_on_this_thread(void);

#endif
