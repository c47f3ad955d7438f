/* options.h: table-driven command-line options for the clcnn commands. Each command
 * lists its options once (name, kind, destination, help); parsing, value checks,
 * --help text and error messages all come from that table. */
#ifndef CLCNN_TOOLS_OPTIONS_H
#define CLCNN_TOOLS_OPTIONS_H

#include <stdint.h>

typedef enum {
    OPT_FLAG,     /* --name; sets an int to 1 */
    OPT_INT,      /* --name N; a positive int */
    OPT_COUNT,    /* --name N; an int >= 0 */
    OPT_FLOAT,    /* --name X; a finite float >= 0 */
    OPT_SEED,     /* --name N; any uint64 */
    OPT_STRING    /* --name VALUE; const char * */
} opt_kind;

typedef struct {
    const char *name;      /* "--epochs" */
    opt_kind kind;
    void *dest;
    const char *metavar;   /* "N", "FILE"; NULL for flags */
    const char *help;      /* one line; the default is shown from *dest when not zero/NULL */
} opt_spec;

typedef struct {
    const char *command;     /* "train" */
    const char *synopsis;    /* the usage line after "clcnn COMMAND " */
    const char *description; /* paragraph(s) before the options */
    const opt_spec *specs;   /* ends with {NULL} */
    int max_positional;      /* 0: none allowed; -1: any number */
    const char *program;     /* "clcnn" or "clbench": in help and errors */
} opt_command;

enum { OPT_OK = 0, OPT_ERROR = 1, OPT_HELP = 2 };

/* Parse argv[1..argc-1] (argv[0] is the command name). Positional arguments are kept
 * in order in positional[0..*n_positional-1] (pointers into argv; positional must have
 * room for argc entries). On OPT_ERROR a one-line reason is on stderr; on OPT_HELP the
 * help text is on stdout. */
int opt_parse(const opt_command *cmd, int argc, char **argv, char **positional, int *n_positional);
void opt_print_help(const opt_command *cmd);



/* The values of every option as a JSON object of strings {"epochs": "10", ...} (flags as
 * "1" or "0"; unset strings left out), malloc'd; NULL, with the reason on stderr, when a
 * value is not UTF-8 text (JSON cannot hold it) or memory runs out. */
char *opt_to_json(const opt_command *cmd);
/* Set options from such an object, except those named in keep (NULL-terminated, e.g.
 * options the user gave again). OPT_ERROR (with a reason on stderr) on a bad value. */
int opt_from_json(const opt_command *cmd, const char *json, const char *const *keep);
/* Whether option name appears in argv (as "--name" or "--name=..."). */
int opt_given(int argc, char **argv, const char *name);
#endif
