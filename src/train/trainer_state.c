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

clcnn_status clcnn_trainer_save_state(const clcnn_trainer *t, const char *path, int n_pairs, const char *const *keys,
                                      const char *const *values) {
    if (!t || !path) return clcnn_error(t ? t->ctx : NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL argument", op_save);
    const int cap = 2 * t->nparams + 1;
    char **names = calloc((size_t)cap, sizeof *names);
    const clcnn_tensor **tensors = calloc((size_t)cap, sizeof *tensors);
    const char **k = calloc((size_t)n_pairs + 1, sizeof *k), **v = calloc((size_t)n_pairs + 1, sizeof *v);
    char steps[24];
    int n = 0;
    clcnn_status st = CLCNN_OK;
    if (!names || !tensors || !k || !v) {
        st = clcnn_error(t->ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory", op_save);
        goto done;
    }
    for (int i = 0; i < t->nparams && st == CLCNN_OK; i++) {
        const clcnn_tensor *s[2] = {t->state1[i], t->state2[i]};
        for (int j = 0; j < 2; j++) {
            if (!s[j]) continue;
            if (!(names[n] = state_name(clcnn_graph_param_name(t->g, i), j + 1))) {
                st = clcnn_error(t->ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory", op_save);
                break;
            }
            tensors[n++] = s[j];
        }
    }
    if (st != CLCNN_OK) goto done;
    snprintf(steps, sizeof steps, "%d", t->steps);
    k[0] = "steps", v[0] = steps;
    for (int i = 0; i < n_pairs; i++) k[i + 1] = keys[i], v[i + 1] = values[i];
    st = clcnn_safetensors_save(t->ctx, path, n, (const char *const *)names, tensors, n_pairs + 1, k, v);
done:
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
            if (!name) return clcnn_error(t->ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory", op_load);
            const clcnn_tensor *src = clcnn_weights_get(w, name);
            const int ok = src && clcnn_tensor_numel(src) == clcnn_tensor_numel(s[j]);
            clcnn_status st = ok ? CLCNN_OK
                                 : clcnn_error(t->ctx, src ? CLCNN_ERR_SHAPE : CLCNN_ERR_NOT_FOUND,
                                               "%s: %s: optimizer state %s is %s (another optimizer or network?)",
                                               op_load, path, name, src ? "of another size" : "missing");
            free(name);
            if (st != CLCNN_OK) return st;
        }
    }
    return CLCNN_OK;
}

clcnn_status clcnn_trainer_load_state(clcnn_trainer *t, const clcnn_weights *w) {
    if (!t || !w) return clcnn_error(t ? t->ctx : NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL argument", op_load);
    const char *path = clcnn_weights_path(w), *steps_text = clcnn_weights_metadata(w, "steps");
    char *end = NULL;
    const long steps = steps_text ? strtol(steps_text, &end, 10) : -1;
    if (!steps_text || *end || steps < 0 || steps > (1L << 30))
        return clcnn_error(t->ctx, CLCNN_ERR_FORMAT, "%s: %s has no valid \"steps\" metadata", op_load, path);
    clcnn_status st = check_state(t, w, path);
    for (int i = 0; st == CLCNN_OK && i < t->nparams; i++) {
        clcnn_tensor *s[2] = {t->state1[i], t->state2[i]};
        for (int j = 0; st == CLCNN_OK && j < 2; j++) {
            if (!s[j]) continue;
            char *name = state_name(clcnn_graph_param_name(t->g, i), j + 1);
            if (!name) return clcnn_error(t->ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory", op_load);
            st = clcnn_tensor_copy(clcnn_weights_get(w, name), s[j], op_load);
            free(name);
        }
    }
    if (st == CLCNN_OK) t->steps = (int)steps;
    return st;
}

void clcnn_trainer_set_steps(clcnn_trainer *t, int steps) {
    if (t && steps >= 0) t->steps = steps;
}
