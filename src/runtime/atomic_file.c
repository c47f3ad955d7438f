/* atomic_file.c: temporary file, fsync, rename (see atomic_file.h). */
#include "runtime/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "runtime/fault.h"
#include "runtime/internal.h"

/* err < 0: -errno injected by CLCNN_FAULT (fault.h), said so in the message. */
static clcnn_status io_error(const clcnn_context *ctx, const char *who, const rt_atomic_file *af,
                             const char *step, int err) {
    return rt_error(ctx, CLCNN_ERR_IO, "%s: cannot save %s: %s the temporary file %s: %s%s", who, af->path, step,
                       af->tmp, strerror(err ? abs(err) : EIO), err < 0 ? CLCNN_FAULT_NOTE : "");
}

static void release(rt_atomic_file *af) {
    free(af->path);
    free(af->tmp);
    memset(af, 0, sizeof *af);
}

/* Create tmp exclusively ("x": never through a planted link); a stale one left by a
 * crashed process with the same name is removed first. */
static FILE *create_temp(const char *path, const char *tmp) {
    FILE *f = fopen(tmp, "wbx");
    if (!f && errno == EEXIST && remove(tmp) == 0) f = fopen(tmp, "wbx");
    struct stat old;
    if (f && stat(path, &old) == 0 && S_ISREG(old.st_mode)) (void)fchmod(fileno(f), old.st_mode & 07777);
    return f;
}

clcnn_status rt_atomic_open(const clcnn_context *ctx, const char *who, const char *path, rt_atomic_file *af) {
    if (!af) return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL file", who);
    memset(af, 0, sizeof *af);
    if (!path || !*path) return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: empty or NULL path", who);
    const size_t tmp_size = strlen(path) + 48;
    af->path = strdup(path);
    af->tmp = malloc(tmp_size);
    if (!af->path || !af->tmp) {
        release(af);
        return rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory", who);
    }
    snprintf(af->tmp, tmp_size, "%s.tmp.%ld", path, (long)getpid());
    if (!(af->f = create_temp(path, af->tmp))) {
        const clcnn_status st = io_error(ctx, who, af, "creating", errno);
        release(af);
        return st;
    }
    return CLCNN_OK;
}

void rt_atomic_write(rt_atomic_file *af, const void *data, size_t size) {
    if (af->failed || size == 0) return;
    errno = 0;
    if (fwrite(data, 1, size, af->f) != size) {
        af->failed = 1;
        af->error = errno ? errno : EIO;
    }
}

/* The rename is durable once the directory is synced; best effort (it is in place already). */
static void sync_directory(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir) return;
    const int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

clcnn_status rt_atomic_commit(const clcnn_context *ctx, const char *who, rt_atomic_file *af) {
    if (!af || !af->f) return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: file not open", who);
    clcnn_status st = CLCNN_OK;
    errno = 0;
    if (af->failed) st = io_error(ctx, who, af, "writing", af->error);
    else if (rt_fault_hit(CLCNN_FAULT_WRITE)) st = io_error(ctx, who, af, "writing", -ENOSPC); /* a full disk */
    else if (fflush(af->f) != 0 || fsync(fileno(af->f)) != 0) st = io_error(ctx, who, af, "writing", errno);
    errno = 0;
    if (fclose(af->f) != 0 && st == CLCNN_OK) st = io_error(ctx, who, af, "closing", errno);
    af->f = NULL;
    if (st == CLCNN_OK && rename(af->tmp, af->path) != 0) st = io_error(ctx, who, af, "renaming", errno);
    if (st != CLCNN_OK) remove(af->tmp);
    else sync_directory(af->path);
    release(af);
    return st;
}

void rt_atomic_abort(rt_atomic_file *af) {
    if (!af) return;
    if (af->f) {
        fclose(af->f);
        remove(af->tmp);
    }
    release(af);
}

clcnn_status clcnn_save_file(const char *path, const void *data, size_t size) {
    static const char *who = "clcnn_save_file";
    if (!data && size) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL data", who);
    rt_atomic_file af;
    clcnn_status st = rt_atomic_open(NULL, who, path, &af);
    if (st != CLCNN_OK) return st;
    rt_atomic_write(&af, data, size);
    return rt_atomic_commit(NULL, who, &af);
}
