/* trainer_state.c: saving and restoring an optimizer's state, so that a resumed run
 * continues with the same momentum and Adam moments and the same step count (and so
 * the same learning rate) as if it had never stopped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "train/trainer_internal.h"

static const char *op_save = "clcnn_trainer_save_state", *op_load = "clcnn_trainer_load_state";

/* "PARAM.stateK" for state k (1 or 2). */
static char *state_name(const char *param, int k) {
    const size_t n = strlen(param) + 16;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s.state%d", param, k);
    return s;
}

/* Each parameter's own step count, "s0,s1,...", in the graph's parameter order. */
static char *param_steps_text(const clcnn_trainer *t) {
    const size_t cap = (size_t)t->nparams * 12 + 1;
    char *s = malloc(cap);
    size_t len = 0;
    if (s) s[0] = 0;
    for (int i = 0; s && i < t->nparams; i++)
        len += (size_t)snprintf(s + len, cap - len, "%s%d", i ? "," : "", t->param_steps[i]);
    return s;
}

/* The counts saved by param_steps_text into steps[nparams]; 0 when text is not a list of
 * exactly that many counts in [0, max]. */
static int parse_param_steps(const char *text, int nparams, long max, int *steps) {
    const char *p = text;
    for (int i = 0; i < nparams; i++) {
        char *end;
        const long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > max || *end != (i + 1 < nparams ? ',' : '\0')) return 0;
        steps[i] = (int)v;
        p = end + (i + 1 < nparams);
    }
    return nparams > 0 || !*text;
}

clcnn_status clcnn_trainer_save_state(const clcnn_trainer *t, const char *path, int n_pairs, const char *const *keys,
                                      const char *const *values) {
    if (!t || !path) return rt_error(t ? t->ctx : NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL argument", op_save);
    const int cap = 2 * t->nparams + 1;
    char **names = calloc((size_t)cap, sizeof *names);
    const clcnn_tensor **tensors = calloc((size_t)cap, sizeof *tensors);
    const char **k = calloc((size_t)n_pairs + 2, sizeof *k), **v = calloc((size_t)n_pairs + 2, sizeof *v);
    char steps[24], *param_steps = param_steps_text(t);
    int n = 0;
    clcnn_status st = CLCNN_OK;
    if (!names || !tensors || !k || !v || !param_steps) {
        st = rt_error(t->ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory", op_save);
        goto done;
    }
    for (int i = 0; i < t->nparams && st == CLCNN_OK; i++) {
        const clcnn_tensor *s[2] = {t->state1[i], t->state2[i]};
        for (int j = 0; j < 2; j++) {
            if (!s[j]) continue;
            if (!(names[n] = state_name(clcnn_graph_param_name(t->g, i), j + 1))) {
                st = rt_error(t->ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory", op_save);
                break;
            }
            tensors[n++] = s[j];
        }
    }
    if (st != CLCNN_OK) goto done;
    snprintf(steps, sizeof steps, "%d", t->steps);
    k[0] = "steps", v[0] = steps;
    k[1] = "param_steps", v[1] = param_steps;
    for (int i = 0; i < n_pairs; i++) k[i + 2] = keys[i], v[i + 2] = values[i];
    st = clcnn_safetensors_save(t->ctx, path, n, (const char *const *)names, tensors, n_pairs + 2, k, v);
done:
    free(param_steps);
    for (int i = 0; names && i < n; i++) free(names[i]);
    free(names);
    free(tensors);
    free(k);
    free(v);
    return st;
}

/* Every state tensor must be in the file with its shape before anything is copied. */
static clcnn_status check_state(const clcnn_trainer *t, const clcnn_weights *w, const char *path) {
    for (int i = 0; i < t->nparams; i++) {
        const clcnn_tensor *s[2] = {t->state1[i], t->state2[i]};
        for (int j = 0; j < 2; j++) {
            if (!s[j]) continue;
            char *name = state_name(clcnn_graph_param_name(t->g, i), j + 1);
            if (!name) return rt_error(t->ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory", op_load);
            const clcnn_tensor *src = clcnn_weights_get(w, name);
            const int ok = src && clcnn_tensor_numel(src) == clcnn_tensor_numel(s[j]);
            clcnn_status st = ok ? CLCNN_OK
                                 : rt_error(t->ctx, src ? CLCNN_ERR_SHAPE : CLCNN_ERR_NOT_FOUND,
                                               "%s: %s: optimizer state %s is %s (another optimizer or network?)",
                                               op_load, path, name, src ? "of another size" : "missing");
            free(name);
            if (st != CLCNN_OK) return st;
        }
    }
    return CLCNN_OK;
}

clcnn_status clcnn_trainer_load_state(clcnn_trainer *t, const clcnn_weights *w) {
    if (!t || !w) return rt_error(t ? t->ctx : NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL argument", op_load);
    const char *path = clcnn_weights_path(w), *steps_text = clcnn_weights_metadata(w, "steps");
    char *end = NULL;
    const long steps = steps_text ? strtol(steps_text, &end, 10) : -1;
    if (!steps_text || *end || steps < 0 || steps > (1L << 30))
        return rt_error(t->ctx, CLCNN_ERR_FORMAT, "%s: %s has no valid \"steps\" metadata", op_load, path);
    /* Files from before per-parameter counts: every trainable parameter took every step. */
    const char *param_steps = clcnn_weights_metadata(w, "param_steps");
    int *counts = malloc((size_t)(t->nparams > 0 ? t->nparams : 1) * sizeof *counts);
    if (!counts) return rt_error(t->ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory", op_load);
    for (int i = 0; !param_steps && i < t->nparams; i++)
        counts[i] = clcnn_graph_param_is_frozen(t->g, clcnn_graph_param_name(t->g, i)) ? 0 : (int)steps;
    if (param_steps && !parse_param_steps(param_steps, t->nparams, steps, counts)) {
        free(counts);
        return rt_error(t->ctx, CLCNN_ERR_FORMAT, "%s: %s: \"param_steps\" is not %d step counts of at most %ld "
                           "(another network?)", op_load, path, t->nparams, steps);
    }
    clcnn_status st = check_state(t, w, path);
    for (int i = 0; st == CLCNN_OK && i < t->nparams; i++) {
        clcnn_tensor *s[2] = {t->state1[i], t->state2[i]};
        for (int j = 0; st == CLCNN_OK && j < 2; j++) {
            if (!s[j]) continue;
            char *name = state_name(clcnn_graph_param_name(t->g, i), j + 1);
            st = name ? rt_tensor_copy(clcnn_weights_get(w, name), s[j], op_load)
                      : rt_error(t->ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory", op_load);
            free(name);
        }
    }
    if (st == CLCNN_OK) {
        t->steps = (int)steps;
        memcpy(t->param_steps, counts, (size_t)t->nparams * sizeof *counts);
    }
    free(counts);
    return st;
}

void clcnn_trainer_set_steps(clcnn_trainer *t, int steps) {
    if (!t || steps < 0) return;
    t->steps = steps;
    memset(t->param_steps, 0, (size_t)t->nparams * sizeof *t->param_steps); /* the moments are zero */
}
