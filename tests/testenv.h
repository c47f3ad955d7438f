/* testenv.h: environment variables set for one test and restored after it. */
#ifndef CLCNN_TEST_TESTENV_H
#define CLCNN_TEST_TESTENV_H

typedef struct {
    const char *name;
    char *old; /* NULL: was unset */
} env_saved;

/* Remember name's value in e, then set it to value (NULL: unset it). */
void env_set(env_saved *e, const char *name, const char *value);
/* Put back what env_set found. */
void env_restore(env_saved *e);

#endif
