/* testenv.c: environment variables set for one test and restored after it. */
#include "testenv.h"
#include <stdlib.h>
#include <string.h>

void env_set(env_saved *e, const char *name, const char *value) {
    const char *old = getenv(name);
    e->name = name;
    e->old = old ? strdup(old) : NULL;
    if (value) setenv(name, value, 1);
    else unsetenv(name);
}

void env_restore(env_saved *e) {
    if (e->old) setenv(e->name, e->old, 1);
    else unsetenv(e->name);
    free(e->old);
    e->old = NULL;
}
