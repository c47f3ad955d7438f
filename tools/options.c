/* options.c: see options.h. */
#include "options.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const opt_spec *find(const opt_command *cmd, const char *name) {
    for (const opt_spec *s = cmd->specs; s->name; s++)
        if (!strcmp(s->name, name)) return s;
    return NULL;
}

/* The default shown in --help: the destination's value before parsing, when set. */
static void print_default(const opt_spec *s) {
    switch (s->kind) {
    case OPT_INT:
    case OPT_COUNT:
        if (*(int *)s->dest) printf(" (default %d)", *(int *)s->dest);
        break;
    case OPT_FLOAT: /* NaN: not given, a default the command works out (its help says which) */
        if (*(float *)s->dest != 0 && !isnan(*(float *)s->dest)) printf(" (default %g)", (double)*(float *)s->dest);
        break;
    case OPT_SEED:
        printf(" (default %llu)", (unsigned long long)*(uint64_t *)s->dest);
        break;
    case OPT_STRING:
        if (*(const char **)s->dest) printf(" (default %s)", *(const char **)s->dest);
        break;
    case OPT_FLAG:
        break;
    }
}

void opt_print_help(const opt_command *cmd) {
    printf("usage: %s %s %s\n\n%s\n\noptions:\n", cmd->program, cmd->command, cmd->synopsis, cmd->description);
    for (const opt_spec *s = cmd->specs; s->name; s++) {
        char left[48];
        snprintf(left, sizeof left, "%s%s%s", s->name, s->metavar ? " " : "", s->metavar ? s->metavar : "");
        printf("  %-22s %s", left, s->help);
        print_default(s);
        putchar('\n');
    }
    printf("  %-22s %s\n", "--help", "this text");
}

static int fail(const opt_command *cmd, const char *what, const char *name, const char *value) {
    fprintf(stderr, "%s %s: %s %s%s%s (see %s %s --help)\n", cmd->program, cmd->command, name, what,
            value ? ": " : "", value ? value : "", cmd->program, cmd->command);
    return OPT_ERROR;
}

static int parse_value(const opt_command *cmd, const opt_spec *s, const char *v) {
    char *end;
    errno = 0;
    switch (s->kind) {
    case OPT_INT:
    case OPT_COUNT: {
        long x = strtol(v, &end, 10);
        const long lo = s->kind == OPT_INT ? 1 : 0;
        if (end == v || *end || errno || x < lo || x > (1L << 30))
            return fail(cmd, s->kind == OPT_INT ? "needs a positive integer" : "needs an integer >= 0", s->name, v);
        *(int *)s->dest = (int)x;
        return OPT_OK;
    }
    case OPT_FLOAT: {
        float x = strtof(v, &end);
        if (end == v || *end || errno || !isfinite(x) || x < 0) return fail(cmd, "needs a number >= 0", s->name, v);
        *(float *)s->dest = x;
        return OPT_OK;
    }
    case OPT_SEED: {
        unsigned long long x = strtoull(v, &end, 0);
        if (end == v || *end || errno || *v == '-') return fail(cmd, "needs a non-negative integer", s->name, v);
        *(uint64_t *)s->dest = x;
        return OPT_OK;
    }
    case OPT_STRING:
        if (!*v) return fail(cmd, "needs a non-empty value", s->name, NULL);
        *(const char **)s->dest = v;
        return OPT_OK;
    case OPT_FLAG:
        break;
    }
    return OPT_ERROR;
}

int opt_parse(const opt_command *cmd, int argc, char **argv, char **positional, int *n_positional) {
    *n_positional = 0;
    int only_positional = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (!only_positional && !strcmp(a, "--")) {
            only_positional = 1;
            continue;
        }
        if (only_positional || a[0] != '-' || !a[1]) {
            if (cmd->max_positional >= 0 && *n_positional >= cmd->max_positional)
                return fail(cmd, "is an unexpected argument", a, NULL);
            positional[(*n_positional)++] = a;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            opt_print_help(cmd);
            return OPT_HELP;
        }
        /* --name=value is accepted as well as --name value. */
        char name[64];
        const char *eq = strchr(a, '='), *value = NULL;
        snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - a) : (int)strlen(a), a);
        const opt_spec *s = find(cmd, name);
        if (!s) return fail(cmd, "is not an option of this command", name, NULL);
        if (s->kind == OPT_FLAG) {
            if (eq) return fail(cmd, "takes no value", name, NULL);
            *(int *)s->dest = 1;
            continue;
        }
        if (eq) value = eq + 1;
        else if (i + 1 < argc) value = argv[++i];
        else return fail(cmd, "needs a value", name, NULL);
        if (parse_value(cmd, s, value) != OPT_OK) return OPT_ERROR;
    }
    return OPT_OK;
}

#include <jansson.h>

static int format_value(const opt_spec *s, char *buf, size_t size) {
    switch (s->kind) {
    case OPT_INT: /* 0 is "not given" for options that must be positive */
        if (*(int *)s->dest == 0) return 0;
        /* fall through */
    case OPT_FLAG:
    case OPT_COUNT:
        snprintf(buf, size, "%d", *(int *)s->dest);
        return 1;
    case OPT_FLOAT:
        if (isnan(*(float *)s->dest)) return 0; /* not given: left out, so that a resumed run works it out again */
        snprintf(buf, size, "%.9g", (double)*(float *)s->dest);
        return 1;
    case OPT_SEED:
        snprintf(buf, size, "%llu", (unsigned long long)*(uint64_t *)s->dest);
        return 1;
    case OPT_STRING:
        if (!*(const char **)s->dest) return 0;
        snprintf(buf, size, "%s", *(const char **)s->dest);
        return 1;
    }
    return 0;
}

char *opt_to_json(const opt_command *cmd) {
    json_t *o = json_object();
    char buf[4096];
    int told = 0; /* the reason for a NULL result is on stderr already */
    for (const opt_spec *s = cmd->specs; o && s->name; s++) {
        if (!format_value(s, buf, sizeof buf)) continue;
        json_t *v = json_string(buf); /* NULL when buf is not UTF-8 (a Latin-1 file name): JSON cannot hold it */
        json_t *unchecked = v ? NULL : json_string_nocheck(buf); /* made: memory was not the problem */
        if (unchecked) {
            told = 1;
            fprintf(stderr, "%s %s: %s: the value is not UTF-8 text, which saved options cannot hold\n",
                    cmd->program, cmd->command, s->name);
        }
        json_decref(unchecked);
        if (json_object_set_new(o, s->name + 2, v) != 0) {
            json_decref(o);
            o = NULL;
        }
    }
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    if (!text && !told) fprintf(stderr, "%s %s: out of host memory saving the options\n", cmd->program, cmd->command);
    return text;
}

static int kept(const char *name, const char *const *keep) {
    for (; keep && *keep; keep++)
        if (!strcmp(*keep, name)) return 1;
    return 0;
}

/* Strings restored from JSON must outlive it: they are kept for the life of the process. */
int opt_from_json(const opt_command *cmd, const char *json, const char *const *keep) {
    json_t *o = json_loads(json, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        fprintf(stderr, "%s %s: the saved options are not a JSON object\n", cmd->program, cmd->command);
        return OPT_ERROR;
    }
    int rc = OPT_OK;
    for (const opt_spec *s = cmd->specs; rc == OPT_OK && s->name; s++) {
        const char *v = json_string_value(json_object_get(o, s->name + 2));
        if (!v || kept(s->name, keep)) continue;
        if (s->kind == OPT_FLAG) {
            *(int *)s->dest = !strcmp(v, "1");
            continue;
        }
        char *copy = strdup(v);
        if (!copy) rc = OPT_ERROR;
        else if ((rc = parse_value(cmd, s, copy)) != OPT_OK || s->kind != OPT_STRING) free(copy);
    }
    json_decref(o);
    return rc;
}

int opt_given(int argc, char **argv, const char *name) {
    const size_t n = strlen(name);
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], name, n) && (argv[i][n] == 0 || argv[i][n] == '=')) return 1;
    return 0;
}
