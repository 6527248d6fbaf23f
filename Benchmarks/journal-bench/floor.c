/* The floor of journal-bench: the same entries sent by a tight C loop calling sd_journal_sendv.
 * Usage: journal-floor FILE   (FILE as written by journal-bench: u32 count, then per entry
 * u32 fields, then per field u32 length and "NAME=value" bytes; native byte order)
 * Prints the nanoseconds per entry of the best of three passes. Built by scripts/bench-journal. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <time.h>

static uint32_t read_u32(FILE *f) {
    uint32_t v;
    if (fread(&v, sizeof v, 1, f) != 1) { fprintf(stderr, "truncated input\n"); exit(1); }
    return v;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: journal-floor FILE\n"); return 2; }
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 1; }
    uint32_t count = read_u32(f);
    struct iovec **entries = calloc(count, sizeof *entries);
    int *sizes = calloc(count, sizeof *sizes);
    for (uint32_t i = 0; i < count; i++) {
        sizes[i] = (int)read_u32(f);
        entries[i] = calloc((size_t)sizes[i], sizeof(struct iovec));
        for (int j = 0; j < sizes[i]; j++) {
            uint32_t length = read_u32(f);
            void *bytes = malloc(length);
            if (fread(bytes, 1, length, f) != length) { fprintf(stderr, "truncated input\n"); return 1; }
            entries[i][j].iov_base = bytes;
            entries[i][j].iov_len = length;
        }
    }
    double best = 1e18;
    for (int pass = 0; pass < 3; pass++) {
        struct timespec start, end;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (uint32_t i = 0; i < count; i++) {
            int r = sd_journal_sendv(entries[i], sizes[i]);
            if (r < 0) { fprintf(stderr, "sd_journal_sendv: %d\n", r); return 1; }
        }
        clock_gettime(CLOCK_MONOTONIC, &end);
        double ns = ((end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec)) / count;
        if (ns < best) best = ns;
    }
    printf("%.1f\n", best);
    return 0;
}
