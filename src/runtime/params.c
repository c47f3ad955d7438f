/* params.c: per-device tuning parameters: a small table with a default row (CLBlast's
 * database idea), and the winners clcnn_tune measured on this device, kept in a JSON
 * file per device name and driver version in the cache folder. Kernels receive the
 * parameters as -D options; ops ask for per-shape winners through
 * rt_params_tuned_choice.
 *
 * The tuning file is read whenever a context is created (rt_device_params_for) and
 * kept in memory per device for the whole process, so that lookups are a scan of a short
 * list under a lock. A file that does not parse, has the wrong format or belongs to
 * another device or driver is ignored with a warning. CLCNN_TUNE=off ignores it. */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "runtime/atomic_file.h"
#include "runtime/gpu_rows.h"
#include "runtime/internal.h"
#include "runtime/tuning.h"

#define TUNING_FORMAT "clcnn-tuning"
#define TUNING_VERSION 1
#define TUNED_OP_MAX 24

int rt_gemm_tile_valid(int m, int n) { return m >= 1 && m <= 12 && (n == 16 || n == 32); }

/* CLCNN_GEMM_TILE=MxN overrides the GEMM tile (for tuning experiments and for testing
 * every tile the table can choose). N must be 16 or 32, M 1..12. Returns 1 if applied. */
static int apply_override(rt_device_params *p) {
    const char *v = getenv("CLCNN_GEMM_TILE");
    int m, n;
    if (!v || sscanf(v, "%dx%d", &m, &n) != 2) return 0;
    if (!rt_gemm_tile_valid(m, n)) {
        rt_log(CLCNN_LOG_WARN, "ignoring CLCNN_GEMM_TILE=%s: want MxN with M in 1..12 and N 16 or 32", v);
        return 0;
    }
    p->gemm_tile_m = m;
    p->gemm_tile_n = n;
    p->row_name = "CLCNN_GEMM_TILE";
    return 1;
}

/* CLCNN_GEMM_LOCAL=MWGxNWGxKWG:MDIMCxNDIMC sets gemm_local's work-group tile (the GPU
 * family; experiments, and a small tile for Oclgrind, which simulates every work-item),
 * =off makes the GPU family use gemm_tiled. Returns 1 if applied. */
int rt_local_tile_valid(const rt_local_tile *t) {
    return t->mdimc >= 1 && t->ndimc >= 1 && t->kwg >= 1 && t->kwg <= 64 && t->mwg <= 256 && t->nwg <= 256 &&
           t->mwg >= t->mdimc && t->nwg >= t->ndimc && t->mwg % t->mdimc == 0 && t->nwg % t->ndimc == 0 &&
           t->mdimc * t->ndimc <= 1024;
}

int rt_local_tile_parse(const char *s, rt_local_tile *t) {
    int used = 0;
    if (sscanf(s, "%dx%dx%d:%dx%d%n", &t->mwg, &t->nwg, &t->kwg, &t->mdimc, &t->ndimc, &used) != 5 || s[used])
        return -1;
    return rt_local_tile_valid(t) ? 0 : -1;
}

void rt_local_tile_set(rt_device_params *p, const rt_local_tile *t) {
    p->gemm_mwg = t->mwg, p->gemm_nwg = t->nwg, p->gemm_kwg = t->kwg, p->gemm_mdimc = t->mdimc;
    p->gemm_ndimc = t->ndimc;
}

rt_local_tile rt_local_tile_of(const rt_device_params *p) {
    return (rt_local_tile){p->gemm_mwg, p->gemm_nwg, p->gemm_kwg, p->gemm_mdimc, p->gemm_ndimc};
}

static int apply_local_override(rt_device_params *p) {
    const char *v = getenv("CLCNN_GEMM_LOCAL");
    rt_local_tile t;
    if (!v || !*v || !p->gemm_mwg) return 0;
    if (!strcmp(v, "off")) {
        p->gemm_mwg = 0;
        return 1;
    }
    if (rt_local_tile_parse(v, &t) != 0) {
        rt_log(CLCNN_LOG_WARN, "ignoring CLCNN_GEMM_LOCAL=%s: want MWGxNWGxKWG:MDIMCxNDIMC (e.g. 64x64x16:16x16), "
                  "MWG a multiple of MDIMC, NWG of NDIMC, at most 1024 work-items, or off", v);
        return 0;
    }
    rt_local_tile_set(p, &t);
    return 1;
}

static int tuning_enabled(void) {
    const char *v = getenv("CLCNN_TUNE");
    return !(v && (!strcmp(v, "off") || !strcmp(v, "0")));
}

/* ---- the tables in memory ---- */

typedef struct {
    char op[TUNED_OP_MAX];
    int nkey;
    int key[CLCNN_TUNED_KEY_MAX];
    int choice;
    char *name;
} tuned_entry;

typedef struct {
    char device[128], driver[64]; /* whose table this is */
    int tile_m, tile_n;           /* 0: no tuned GEMM tile */
    rt_local_tile local;       /* mwg 0: no tuned gemm_local tile */
    tuned_entry *e;
    int n, cap;
} tuned_table;

/* One table per device (name and driver) seen by this process, replaced whenever a
 * context on that device reads the file again or clcnn_tune stores new winners. */
static pthread_mutex_t tables_lock = PTHREAD_MUTEX_INITIALIZER;
static tuned_table *tables;
static int ntables;

static void table_clear(tuned_table *t) {
    for (int i = 0; i < t->n; i++) free(t->e[i].name);
    free(t->e);
    t->e = NULL;
    t->n = t->cap = 0;
    t->tile_m = t->tile_n = 0;
    t->local.mwg = 0;
}

static int same_device(const tuned_table *t, const clcnn_device_info *info) {
    return !strcmp(t->device, info->name) && !strcmp(t->driver, info->driver_version);
}

static void table_init(tuned_table *t, const clcnn_device_info *info) {
    memset(t, 0, sizeof *t);
    snprintf(t->device, sizeof t->device, "%s", info->name);
    snprintf(t->driver, sizeof t->driver, "%s", info->driver_version);
}

static tuned_entry *table_find(const tuned_table *t, const char *op, const int *key, int nkey) {
    for (int i = 0; i < t->n; i++) {
        tuned_entry *e = &t->e[i];
        if (e->nkey == nkey && !strcmp(e->op, op) && !memcmp(e->key, key, sizeof(int) * (size_t)nkey)) return e;
    }
    return NULL;
}

/* Add or replace (op, key) -> choice; 0 on success, -1 out of memory or a bad entry. */
static int table_set(tuned_table *t, const char *op, const int *key, int nkey, int choice, const char *name) {
    if (nkey < 1 || nkey > CLCNN_TUNED_KEY_MAX || strlen(op) >= TUNED_OP_MAX || choice <= 0) return -1;
    char *copy = name ? strdup(name) : NULL;
    if (name && !copy) return -1;
    tuned_entry *e = table_find(t, op, key, nkey);
    if (!e) {
        if (t->n == t->cap) {
            const int cap = t->cap ? 2 * t->cap : 16;
            tuned_entry *grown = realloc(t->e, sizeof *grown * (size_t)cap);
            if (!grown) {
                free(copy);
                return -1;
            }
            t->e = grown;
            t->cap = cap;
        }
        e = &t->e[t->n++];
        memset(e, 0, sizeof *e);
        snprintf(e->op, sizeof e->op, "%s", op);
        e->nkey = nkey;
        memcpy(e->key, key, sizeof(int) * (size_t)nkey);
    }
    free(e->name);
    e->name = copy;
    e->choice = choice;
    return 0;
}

/* Move *t (taken over, left empty) into the process-wide list as its device's table. */
static void install_table(tuned_table *t) {
    pthread_mutex_lock(&tables_lock);
    int i = 0;
    while (i < ntables && (strcmp(tables[i].device, t->device) || strcmp(tables[i].driver, t->driver))) i++;
    if (i == ntables) {
        tuned_table *grown = realloc(tables, sizeof *grown * (size_t)(ntables + 1));
        if (!grown) { /* keep running untuned */
            pthread_mutex_unlock(&tables_lock);
            table_clear(t);
            return;
        }
        tables = grown;
        ntables++;
    } else {
        table_clear(&tables[i]);
    }
    tables[i] = *t;
    memset(t, 0, sizeof *t);
    pthread_mutex_unlock(&tables_lock);
}

int rt_params_tuned_choice(const clcnn_context *ctx, const char *op, const int *key, int nkey) {
    if (!ctx || !op || !key || nkey < 1) return 0;
    int choice = 0;
    pthread_mutex_lock(&tables_lock);
    for (int i = 0; i < ntables; i++)
        if (same_device(&tables[i], &ctx->dev.info)) {
            const tuned_entry *e = table_find(&tables[i], op, key, nkey);
            choice = e ? e->choice : 0;
            break;
        }
    pthread_mutex_unlock(&tables_lock);
    return choice;
}

/* ---- the file ---- */

/* Device names hold spaces and worse: keep letters, digits, '.', '-' and '_'. */
static void sanitize(char *dst, size_t size, const char *s) {
    size_t n = 0;
    for (; *s && n + 1 < size; s++) {
        const char c = *s;
        const int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                       c == '-' || c == '_';
        dst[n++] = ok ? c : '_';
    }
    dst[n] = 0;
}

int rt_tuning_path(const clcnn_device_info *info, char *dst, size_t size) {
    char dir[4096], name[96], driver[48];
    if (rt_cache_dir(dir, sizeof dir) != 0) return -1;
    sanitize(name, sizeof name, info->name);
    sanitize(driver, sizeof driver, info->driver_version);
    const int n = snprintf(dst, size, "%s/tuning-%s-%s.json", dir, name, driver);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

/* Read the key array; 0 if it is one of 1..CLCNN_TUNED_KEY_MAX integers. */
static int parse_key(json_t *arr, int *key, int *nkey) {
    const size_t n = json_array_size(arr);
    if (!json_is_array(arr) || n < 1 || n > CLCNN_TUNED_KEY_MAX) return -1;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_integer(v)) return -1;
        key[i] = (int)json_integer_value(v);
    }
    *nkey = (int)n;
    return 0;
}

/* The table in root for device info: NULL with *why set when the file does not belong to
 * the device or is malformed; an empty table is fine. */
static int parse_tuning(json_t *root, const clcnn_device_info *info, tuned_table *t, const char **why) {
    json_t *fmt = json_object_get(root, "format"), *ver = json_object_get(root, "version");
    if (!json_is_string(fmt) || strcmp(json_string_value(fmt), TUNING_FORMAT) || !json_is_integer(ver) ||
        json_integer_value(ver) != TUNING_VERSION) {
        *why = "not a clcnn tuning file of version 1";
        return -1;
    }
    json_t *dev = json_object_get(root, "device"), *drv = json_object_get(root, "driver");
    if (!json_is_string(dev) || !json_is_string(drv) || strcmp(json_string_value(dev), info->name) ||
        strcmp(json_string_value(drv), info->driver_version)) {
        *why = "it was made for another device or driver version";
        return -1;
    }
    json_t *tile = json_object_get(root, "gemm_tile");
    if (tile && !json_is_null(tile)) {
        json_t *m = json_array_get(tile, 0), *n = json_array_get(tile, 1);
        if (json_array_size(tile) != 2 || !json_is_integer(m) || !json_is_integer(n) ||
            !rt_gemm_tile_valid((int)json_integer_value(m), (int)json_integer_value(n))) {
            *why = "gemm_tile is not [M, N] with M in 1..12 and N 16 or 32";
            return -1;
        }
        t->tile_m = (int)json_integer_value(m);
        t->tile_n = (int)json_integer_value(n);
    }
    json_t *local = json_object_get(root, "gemm_local"); /* absent in files of before it */
    if (local && !json_is_null(local)) {
        int v[5], ok = json_is_array(local) && json_array_size(local) == 5;
        for (int i = 0; ok && i < 5; i++) {
            json_t *e = json_array_get(local, (size_t)i);
            ok = json_is_integer(e) && json_integer_value(e) > 0 && json_integer_value(e) <= 1024;
            if (ok) v[i] = (int)json_integer_value(e);
        }
        const rt_local_tile lt = {ok ? v[0] : 0, ok ? v[1] : 0, ok ? v[2] : 0, ok ? v[3] : 0, ok ? v[4] : 0};
        if (!ok || !rt_local_tile_valid(&lt)) {
            *why = "gemm_local is not [MWG, NWG, KWG, MDIMC, NDIMC] of a valid gemm_local tile";
            return -1;
        }
        t->local = lt;
    }
    json_t *choices = json_object_get(root, "choices");
    if (choices && !json_is_array(choices)) {
        *why = "choices is not an array";
        return -1;
    }
    for (size_t i = 0; i < json_array_size(choices); i++) {
        json_t *c = json_array_get(choices, i), *op = json_object_get(c, "op"), *ch = json_object_get(c, "choice");
        json_t *name = json_object_get(c, "name");
        int key[CLCNN_TUNED_KEY_MAX], nkey;
        if (!json_is_string(op) || !json_is_integer(ch) || json_integer_value(ch) <= 0 ||
            json_integer_value(ch) > 1000 || parse_key(json_object_get(c, "key"), key, &nkey) != 0 ||
            table_set(t, json_string_value(op), key, nkey, (int)json_integer_value(ch),
                      json_is_string(name) ? json_string_value(name) : NULL) != 0) {
            *why = "a choice is not {\"op\": string, \"key\": [integers], \"choice\": positive integer}";
            return -1;
        }
    }
    return 0;
}

/* Read path into t (initialised for info). Returns 1 when loaded, 0 when there is no
 * file, -1 when it was ignored (logged). */
static int read_tuning_file(const char *path, const clcnn_device_info *info, tuned_table *t) {
    table_init(t, info);
    struct stat s;
    if (stat(path, &s) != 0) return 0;
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    const char *why = NULL;
    char what[200];
    if (!root) {
        snprintf(what, sizeof what, "%s (line %d)", jerr.text, jerr.line);
        why = what;
    } else if (!json_is_object(root)) {
        why = "not a JSON object";
    } else {
        parse_tuning(root, info, t, &why);
    }
    json_decref(root);
    if (why) {
        rt_log(CLCNN_LOG_WARN, "ignoring tuning file %s: %s", path, why);
        table_clear(t);
        return -1;
    }
    return 1;
}

void rt_device_params_for(const clcnn_device_info *info, clcnn_device_type family, rt_device_params *p) {
    if (family == CLCNN_DEVICE_CPU) {
        /* PoCL and other CPU drivers: one work-item per tile of C held in float16
         * registers, work-group size 1. 5x16 keeps 10 accumulators in AVX2's 16 vector
         * registers with room for B and the broadcast: enough independent FMAs to cover
         * their latency, which 4x16's 8 only just are. Measured on PoCL 3.1's haswell
         * target (docs/PERFORMANCE.md, "The GEMM tile on CPUs"): 10-15 % more GFLOP/s
         * than 4x16 at 1024^3 in two sessions, whole networks the same or a few % faster. */
        *p = (rt_device_params){"cpu", 5, 16, 1, 0, 0, 0, 0, 0, 0};
    } else {
        /* GPUs and the rest: the GEMM stages tiles of C through local memory (gemm_local),
         * with the vendor's row (gpu_rows.c); not yet measured on a GPU (docs/GPU.md). */
        *p = *rt_gpu_row_for(info);
    }
    /* A new context reads its device's tuning file again: it may have been retuned. */
    tuned_table t;
    char path[4200];
    table_init(&t, info);
    if (tuning_enabled() && rt_tuning_path(info, path, sizeof path) == 0 && read_tuning_file(path, info, &t) > 0) {
        if (t.tile_m) {
            p->gemm_tile_m = t.tile_m;
            p->gemm_tile_n = t.tile_n;
            p->row_name = "tuned";
        }
        if (t.local.mwg && p->gemm_mwg) { /* the GPU family with gemm_local */
            rt_local_tile_set(p, &t.local);
            p->row_name = "tuned";
        }
    }
    install_table(&t);
    apply_override(p);
    apply_local_override(p);
}

/* ---- writing (clcnn_tune) ---- */

/* mkdir -p; 0 on success. */
static int make_dirs(const char *path) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return -1;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        const int r = mkdir(buf, 0755);
        *p = '/';
        if (r != 0 && errno != EEXIST) return -1;
    }
    return mkdir(buf, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

/* s as a JSON string literal (malloc'd), or NULL. */
static char *json_quote(const char *s) {
    json_t *j = json_string(s ? s : "");
    char *q = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    return q;
}

/* The file's text: one choice per line, so that people can read and diff it. */
static char *format_tuning(const tuned_table *t, const clcnn_device_info *info, size_t *len) {
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f) return NULL;
    char *dev = json_quote(info->name), *drv = json_quote(info->driver_version), *plat = json_quote(info->platform);
    int ok = dev && drv && plat;
    if (ok) {
        fprintf(f, "{\n  \"format\": \"%s\",\n  \"version\": %d,\n  \"device\": %s,\n  \"driver\": %s,\n"
                   "  \"platform\": %s,\n", TUNING_FORMAT, TUNING_VERSION, dev, drv, plat);
        if (t->tile_m) fprintf(f, "  \"gemm_tile\": [%d, %d],\n", t->tile_m, t->tile_n);
        else fputs("  \"gemm_tile\": null,\n", f);
        if (t->local.mwg)
            fprintf(f, "  \"gemm_local\": [%d, %d, %d, %d, %d],\n", t->local.mwg, t->local.nwg, t->local.kwg,
                    t->local.mdimc, t->local.ndimc);
        fputs("  \"choices\": [", f);
        for (int i = 0; i < t->n && ok; i++) {
            const tuned_entry *e = &t->e[i];
            char *op = json_quote(e->op), *name = json_quote(e->name ? e->name : "");
            ok = op && name;
            if (ok) {
                fprintf(f, "%s\n    {\"op\": %s, \"key\": [", i ? "," : "", op);
                for (int k = 0; k < e->nkey; k++) fprintf(f, "%s%d", k ? ", " : "", e->key[k]);
                fprintf(f, "], \"choice\": %d, \"name\": %s}", e->choice, name);
            }
            free(op);
            free(name);
        }
        fputs("\n  ]\n}\n", f);
    }
    free(dev);
    free(drv);
    free(plat);
    if (fclose(f) != 0 || !ok) {
        free(buf);
        return NULL;
    }
    return buf;
}

clcnn_status rt_tuning_store(clcnn_context *ctx, int gemm_tile_m, int gemm_tile_n, const rt_local_tile *local,
                                int n, const rt_tuned_choice *choices, char *path_out, size_t path_size) {
    static const char *who = "clcnn_tune";
    const clcnn_device_info *info = &ctx->dev.info;
    char path[4200], dir[4096];
    if (rt_tuning_path(info, path, sizeof path) != 0 || rt_cache_dir(dir, sizeof dir) != 0)
        return rt_error(ctx, CLCNN_ERR_IO, "%s: no cache folder (set XDG_CACHE_HOME or HOME)", who);
    if (gemm_tile_m && !rt_gemm_tile_valid(gemm_tile_m, gemm_tile_n))
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: bad GEMM tile %dx%d", who, gemm_tile_m, gemm_tile_n);
    if (local && !rt_local_tile_valid(local))
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: bad gemm_local tile %dx%dx%d:%dx%d", who, local->mwg,
                           local->nwg, local->kwg, local->mdimc, local->ndimc);
    /* Merge into what is on disk now (even with CLCNN_TUNE=off), so that tuning one
     * network keeps the winners of another. */
    tuned_table t;
    read_tuning_file(path, info, &t);
    if (gemm_tile_m) {
        t.tile_m = gemm_tile_m;
        t.tile_n = gemm_tile_n;
    }
    if (local) t.local = *local;
    clcnn_status st = CLCNN_OK;
    for (int i = 0; i < n && st == CLCNN_OK; i++)
        if (table_set(&t, choices[i].op, choices[i].key, choices[i].nkey, choices[i].choice, choices[i].name) != 0)
            st = rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: bad choice %d for %s (key of %d)", who,
                             choices[i].choice, choices[i].op, choices[i].nkey);
    size_t len = 0;
    char *text = NULL;
    if (st == CLCNN_OK && !(text = format_tuning(&t, info, &len)))
        st = rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory for the tuning file", who);
    if (st == CLCNN_OK && make_dirs(dir) != 0)
        st = rt_error(ctx, CLCNN_ERR_IO, "%s: cannot create the cache folder %s: %s", who, dir, strerror(errno));
    rt_atomic_file af;
    if (st == CLCNN_OK && (st = rt_atomic_open(ctx, who, path, &af)) == CLCNN_OK) {
        rt_atomic_write(&af, text, len);
        st = rt_atomic_commit(ctx, who, &af);
    }
    free(text);
    if (st != CLCNN_OK) {
        table_clear(&t);
        return st;
    }
    if (t.tile_m && !getenv("CLCNN_GEMM_TILE")) {
        ctx->params.gemm_tile_m = t.tile_m;
        ctx->params.gemm_tile_n = t.tile_n;
        ctx->params.row_name = "tuned";
    }
    if (t.local.mwg && ctx->params.gemm_mwg && !getenv("CLCNN_GEMM_LOCAL")) {
        rt_local_tile_set(&ctx->params, &t.local);
        ctx->params.row_name = "tuned";
    }
    if (tuning_enabled()) install_table(&t);
    else table_clear(&t);
    if (path_out && path_size) snprintf(path_out, path_size, "%s", path);
    return CLCNN_OK;
}
