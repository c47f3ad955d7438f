/* fuzz_util.h: what the libFuzzer targets of fuzz/ share: a scratch folder for parsers that
 * read files, argv lists made from fuzz data, checks that end the run with a report, and
 * a guard that no OpenCL device is visible to targets that reach the tool's device code.
 * Header-only: each target is one translation unit (`make fuzz` builds them). */
#ifndef CLCNN_FUZZ_UTIL_H
#define CLCNN_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "clcnn.h"

/* A property the input broke: print it and abort, which libFuzzer reports as a crash. */
#define FUZZ_CHECK(cond, ...)                                                                  \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "fuzz check failed at %s:%d: %s: ", __FILE__, __LINE__, #cond);    \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fputc('\n', stderr);                                                               \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

/* An error status must be negative, and the thread's last error must say something. */
static inline void fuzz_check_error(clcnn_status st) {
    FUZZ_CHECK(st < 0, "status %d is not an error", st);
    const char *msg = clcnn_last_error(NULL);
    FUZZ_CHECK(msg && *msg, "status %d (%s) without a message", st, clcnn_status_str(st));
}

/* ------------------------------------------------------------------ files -- */

static char fuzz_dir_path[64];

static void fuzz_dir_remove(void) {
    if (!fuzz_dir_path[0]) return;
    char path[128];
    static const char *const names[] = {"input", "list.csv"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", fuzz_dir_path, names[i]);
        unlink(path);
    }
    rmdir(fuzz_dir_path);
}

/* A private folder under $TMPDIR (or /tmp), removed at exit. */
static inline const char *fuzz_dir(void) {
    if (!fuzz_dir_path[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/clcnn-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(fuzz_dir_path)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(fuzz_dir_remove);
    }
    return fuzz_dir_path;
}

/* Write data to the scratch file `name` ("input" or "list.csv") and return its path. */
static inline const char *fuzz_write_file(const char *name, const uint8_t *data, size_t size) {
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror("fuzz: writing the input file");
        abort();
    }
    return path;
}

/* ------------------------------------------------------------------- argv -- */

enum { FUZZ_MAX_ARGS = 64 };

/* argv[0] = the command's name, then the input split at NUL bytes (each piece its own
 * exactly-sized allocation, so that reading past an argument's end is caught). */
typedef struct {
    int argc;
    char *argv[FUZZ_MAX_ARGS + 2];
} fuzz_args;

static inline void fuzz_args_free(fuzz_args *a) {
    for (int i = 0; i < a->argc; i++) free(a->argv[i]);
    a->argc = 0;
}

static inline void fuzz_args_make(fuzz_args *a, const char *command, const uint8_t *data, size_t size) {
    a->argc = 0;
    a->argv[a->argc++] = strdup(command);
    size_t start = 0;
    while (start < size && a->argc < FUZZ_MAX_ARGS) {
        const uint8_t *nul = memchr(data + start, 0, size - start);
        const size_t len = nul ? (size_t)(nul - (data + start)) : size - start;
        char *s = malloc(len + 1);
        if (!s) abort();
        memcpy(s, data + start, len);
        s[len] = '\0';
        a->argv[a->argc++] = s;
        start += len + 1;
    }
    a->argv[a->argc] = NULL;
    if (!a->argv[0]) abort();
}

/* Whether p points into one of the arguments (strings the parser may keep). */
static inline int fuzz_args_own(const fuzz_args *a, const char *p) {
    for (int i = 0; i < a->argc; i++)
        if (p >= a->argv[i] && p <= a->argv[i] + strlen(a->argv[i])) return 1;
    return 0;
}

/* ----------------------------------------------------------------- device -- */

/* Hide every OpenCL platform from this process (the ICD loader reads its vendor list from
 * an empty folder) and make sure none is left: targets that reach the tool's device
 * code must end at "no device", never open one. */
static inline void fuzz_hide_devices(void) {
    char vendors[128];
    snprintf(vendors, sizeof vendors, "%s/no-vendors", fuzz_dir());
    mkdir(vendors, 0700);
    setenv("OCL_ICD_VENDORS", vendors, 1);
    setenv("OPENCL_VENDOR_PATH", vendors, 1);
    unsetenv("CLCNN_DEVICE");
    int n = -1;
    if (clcnn_device_count(&n) != CLCNN_OK || n != 0) {
        fprintf(stderr, "fuzz: OpenCL devices are still visible (%d): refusing to run\n", n);
        abort();
    }
    rmdir(vendors);
}

#endif
