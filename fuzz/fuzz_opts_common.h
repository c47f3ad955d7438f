/* fuzz_opts_common.h: the body of the option-parsing targets fuzz_opts_*.c. Each target
 * includes its command's source (tools/cmd_X.c) to reach the command's option table and
 * option struct, which are static there, and calls fuzz_opts_run from its entry point.
 *
 * An input is either a command line (arguments separated by NUL bytes, after the
 * command's name) or, when it starts with '{', the JSON of saved options that `clcnn
 * train --resume` reads from a weight file's metadata. A parsed command line must also
 * survive the trip through that JSON unchanged. Parsing prints (errors on stderr, --help
 * on stdout): run with -close_fd_mask=3. */
#ifndef CLCNN_FUZZ_OPTS_COMMON_H
#define CLCNN_FUZZ_OPTS_COMMON_H

#include <jansson.h>
#include "fuzz_util.h"
#include "options.h"

/* What the command does with its options before it opens a device (may be NULL). */
typedef void (*fuzz_after_parse)(int n_positional, char **positional);

/* Strings opt_from_json restored are strdup'ed and kept for the process's life (the tool
 * resumes once); here each run frees them: those that are neither a default nor an
 * argument. */
static void fuzz_free_restored(const opt_command *cmd, void *opts, const unsigned char *defaults, const fuzz_args *a) {
    for (const opt_spec *s = cmd->specs; s->name; s++) {
        if (s->kind != OPT_STRING) continue;
        const size_t off = (size_t)((char *)s->dest - (char *)opts);
        char *p = *(char **)s->dest;
        const char *def;
        memcpy(&def, defaults + off, sizeof def);
        if (p && p != def && !(a && fuzz_args_own(a, p))) free(p);
        *(char **)s->dest = NULL;
    }
}

/* Whether some string option's value is not valid UTF-8 (JSON cannot hold it). */
static int fuzz_some_string_not_utf8(const opt_command *cmd) {
    for (const opt_spec *s = cmd->specs; s->name; s++) {
        const char *v = s->kind == OPT_STRING ? *(const char **)s->dest : NULL;
        json_t *j = v ? json_string(v) : NULL;
        if (v && !j) return 1;
        json_decref(j);
    }
    return 0;
}

/* Write the options as JSON, read them into the defaults, compare with what was parsed. */
static void fuzz_opts_roundtrip(const opt_command *cmd, void *opts, const unsigned char *defaults, size_t size,
                                const fuzz_args *a) {
    unsigned char *parsed = malloc(size);
    FUZZ_CHECK(parsed != NULL, "no memory");
    memcpy(parsed, opts, size);
    char *json = opt_to_json(cmd);
    if (!json) {
        FUZZ_CHECK(fuzz_some_string_not_utf8(cmd), "opt_to_json failed on valid UTF-8 values");
        free(parsed);
        return;
    }
    memcpy(opts, defaults, size);
    FUZZ_CHECK(opt_from_json(cmd, json, NULL) == OPT_OK, "saved options %s do not read back", json);
    for (const opt_spec *s = cmd->specs; s->name; s++) {
        const size_t off = (size_t)((char *)s->dest - (char *)opts);
        const void *want = parsed + off;
        if (s->kind == OPT_STRING) {
            const char *x = *(const char **)s->dest, *y;
            memcpy(&y, want, sizeof y);
            FUZZ_CHECK((!x && !y) || (x && y && !strcmp(x, y)), "%s: \"%s\" read back as \"%s\" from %s", s->name,
                       y ? y : "(null)", x ? x : "(null)", json);
        } else {
            const size_t n = s->kind == OPT_SEED ? sizeof(uint64_t) : s->kind == OPT_FLOAT ? sizeof(float) : sizeof(int);
            FUZZ_CHECK(!memcmp(s->dest, want, n), "%s changed through %s", s->name, json);
        }
    }
    fuzz_free_restored(cmd, opts, defaults, a);
    memcpy(opts, parsed, size);
    free(parsed);
    free(json);
}

static int fuzz_opts_run(const opt_command *cmd, void *opts, size_t size, const uint8_t *data, size_t n,
                         fuzz_after_parse after) {
    static unsigned char *defaults;
    if (!defaults) {
        if (!(defaults = malloc(size))) abort();
        memcpy(defaults, opts, size);
    }
    memcpy(opts, defaults, size);
    if (n > 0 && data[0] == '{') { /* saved options from a weight file */
        char *json = malloc(n + 1);
        if (!json) abort();
        memcpy(json, data, n);
        json[n] = '\0';
        (void)opt_from_json(cmd, json, NULL);
        fuzz_free_restored(cmd, opts, defaults, NULL);
        free(json);
        return 0;
    }
    fuzz_args a;
    fuzz_args_make(&a, cmd->command, data, n);
    char **pos = malloc((size_t)a.argc * sizeof *pos);
    FUZZ_CHECK(pos != NULL, "no memory");
    int npos = -1;
    const int rc = opt_parse(cmd, a.argc, a.argv, pos, &npos);
    FUZZ_CHECK(rc == OPT_OK || rc == OPT_ERROR || rc == OPT_HELP, "opt_parse returned %d", rc);
    FUZZ_CHECK(npos >= 0 && npos < a.argc, "%d positional arguments of %d", npos, a.argc);
    for (int i = 0; i < npos; i++) FUZZ_CHECK(fuzz_args_own(&a, pos[i]), "positional %d is not an argument", i);
    if (rc == OPT_OK) {
        fuzz_opts_roundtrip(cmd, opts, defaults, size, &a);
        if (after) after(npos, pos);
    }
    free(pos);
    fuzz_args_free(&a);
    return 0;
}

#endif
