/* loader.c: batches decoded, augmented and normalised on host threads ahead of the caller.
 *
 * A ring of SLOTS batch buffers. Work is handed out one image at a time, in the epoch's
 * order, to whichever worker asks next, as long as its batch lies fewer than SLOTS
 * batches past the oldest batch the caller has not given back: the caller holds one
 * batch while the workers fill the next SLOTS - 1. Every image has its own place in its
 * slot, and its augmentation seed depends only on (seed, epoch, index), so the batches
 * do not depend on how many threads there are or which finishes first. Failed images
 * are dropped (skip_bad) or reported in the caller's thread when their batch is handed
 * out, the lowest position of the batch first.
 *
 * One mutex guards the hand-out state; a worker touches its image's place in a slot
 * outside the lock, and the caller reads a slot only after its last image is in. A new
 * epoch (or destroy) waits for the images in flight, at most one per worker. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "runtime/random.h"
#include "runtime/error.h"

enum {
    SLOTS = 3,          /* batch buffers: the one the caller holds and two ahead */
    MSG = 512,          /* bytes kept of a failed image's message */
    MAX_THREADS = 64,
    MAX_BATCH = 1 << 16
};

typedef struct {
    long batch;            /* which batch of the epoch it holds; -1 none */
    int count;             /* images in that batch */
    int pending;           /* of them, not yet prepared */
    float *x;              /* [batch, 3, size, size] */
    float *labels;         /* [batch] */
    int *indices;          /* [batch] */
    clcnn_status *status;  /* [batch] per image */
    char *msgs;            /* [batch][MSG]: why an image failed */
} slot;

struct clcnn_loader {
    /* Fixed at creation. */
    int n, batch, size, batches, n_threads, shuffle, skip_bad, has_aug, balanced;
    int shard, shards;     /* this loader's share of each global batch of batch * shards images */
    long tasks;            /* images it prepares per epoch (n without shards) */
    int *by_class;         /* balanced: indices grouped by class, classes with images in order */
    int *class_start;      /* balanced: [n_classes + 1] offsets into by_class */
    int n_classes;         /* balanced: classes with images */
    size_t image_floats;   /* 3 * size * size */
    char **paths;          /* copies of the data set's paths (one block, paths[0]) */
    int *labels;
    clcnn_augment_params aug;
    clcnn_normalization norm;
    clcnn_fit fit;
    uint64_t seed;
    pthread_t *threads;
    slot slots[SLOTS];
    int bad_images;        /* the caller's thread only */

    /* Guarded by lock. */
    pthread_mutex_t lock;
    pthread_cond_t work;   /* workers: a task may be ready, or stop */
    pthread_cond_t done;   /* caller: a batch is complete */
    pthread_cond_t idle;   /* caller: no image in flight */
    int *order;            /* the epoch's permutation of 0..n-1 */
    uint64_t epoch_seed;
    unsigned gen;          /* bumped by each start: results of older epochs are dropped */
    int started, stop, busy, held;
    long next_task;        /* position in order of the next image to hand out */
    long head;             /* oldest batch not given back by the caller */
};

/* ------------------------------------------------------------------ workers -- */

/* Load and prepare one image into out, augmented with seed; on failure msg says why,
 * naming the file. */
static clcnn_status prepare_image(const clcnn_loader *L, int index, uint64_t seed, float *out, char *msg) {
    const char *path = L->paths[index];
    clcnn_image image;
    clcnn_status st = clcnn_image_load(path, &image);
    if (st == CLCNN_OK) {
        st = clcnn_image_prepare_fit(&image, L->size, L->fit, L->has_aug ? &L->aug : NULL, seed, &L->norm, out);
        clcnn_image_free(&image);
    }
    if (st != CLCNN_OK) {
        const char *why = clcnn_last_error(NULL); /* this worker's thread-local message */
        snprintf(msg, MSG, "%s%s%s", strstr(why, path) ? "" : path, strstr(why, path) ? "" : ": ", why);
    }
    return st;
}

/* With the lock held: may a worker take the next image? */
static int task_ready(const clcnn_loader *L) {
    return L->started && L->next_task < L->tasks && L->next_task / L->batch < L->head + SLOTS;
}

static void *worker_main(void *arg) {
    clcnn_loader *L = arg;
    pthread_mutex_lock(&L->lock);
    for (;;) {
        while (!L->stop && !task_ready(L)) pthread_cond_wait(&L->work, &L->lock);
        if (L->stop) break;
        const long t = L->next_task++, b = t / L->batch;
        const int j = (int)(t % L->batch), index = L->order[t];
        const unsigned gen = L->gen;
        const uint64_t seed = rt_seed_mix(L->epoch_seed, (uint64_t)index); /* (seed, epoch, index) */
        slot *s = &L->slots[b % SLOTS];
        if (j == 0) { /* the first image of a batch claims its slot, given back by the caller */
            s->batch = b;
            s->count = L->tasks - b * L->batch < L->batch ? (int)(L->tasks - b * L->batch) : L->batch;
            s->pending = s->count;
        }
        L->busy++;
        pthread_mutex_unlock(&L->lock);

        s->status[j] = prepare_image(L, index, seed, s->x + (size_t)j * L->image_floats, s->msgs + (size_t)j * MSG);
        s->indices[j] = index;
        s->labels[j] = (float)L->labels[index];

        pthread_mutex_lock(&L->lock);
        if (--L->busy == 0) pthread_cond_broadcast(&L->idle);
        if (gen == L->gen && --s->pending == 0) pthread_cond_broadcast(&L->done);
    }
    pthread_mutex_unlock(&L->lock);
    return NULL;
}

/* Where share s of count images ends (s = -1: 0): shares differ by one at most. */
static long share_end(long count, int s, int shards) { return count * (s + 1) / shards; }

/* Shards: the epoch's order cut down to this loader's share of each global batch, in
 * place (each share lies at or after where it goes). */
static void keep_share(clcnn_loader *L) {
    const long global = (long)L->batch * L->shards;
    long at = 0;
    for (long first = 0; first < L->n && at < L->tasks; first += global) {
        const long count = L->n - first < global ? L->n - first : global;
        const long lo = first + share_end(count, L->shard - 1, L->shards), hi = first + share_end(count, L->shard, L->shards);
        for (long i = lo; i < hi; i++) L->order[at++] = L->order[i];
    }
}

/* ------------------------------------------------------------------- create -- */

static clcnn_status check_params(const clcnn_dataset *ds, const clcnn_loader_params *p) {
    const char *why = NULL;
    if (!ds || !p)
        why = !ds ? "ds is NULL" : "params is NULL";
    else if (p->batch < 1 || p->batch > MAX_BATCH)
        why = "batch is not in 1..65536";
    else if (p->size < 1 || p->size > CLCNN_IMAGE_MAX_SIDE)
        why = "size is not in 1..30000";
    else if (p->threads < 0 || p->threads > MAX_THREADS)
        why = "threads is not in 0..64";
    else if (p->shards < 0 || (p->shards > 1 && (p->shard < 0 || p->shard >= p->shards)))
        why = "shard is not in 0..shards-1";
    else if (p->shards > 1 && p->batch % p->shards)
        why = "batch is not a multiple of shards (each rank takes an equal share)";
    return why ? rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_loader_create: %s", why) : CLCNN_OK;
}

/* The paths and labels of ds, copied so that the loader does not depend on ds's lifetime. */
static int copy_dataset(clcnn_loader *L, const clcnn_dataset *ds) {
    size_t bytes = 0;
    for (int i = 0; i < L->n; i++) bytes += strlen(clcnn_dataset_path(ds, i)) + 1;
    L->paths = malloc((size_t)L->n * sizeof *L->paths);
    L->labels = malloc((size_t)L->n * sizeof *L->labels);
    char *text = malloc(bytes);
    if (!L->paths || !L->labels || !text) {
        free(text);
        free(L->paths);
        L->paths = NULL; /* free_memory frees paths[0] only when there is a block */
        return 0;
    }
    for (int i = 0; i < L->n; i++) {
        const size_t len = strlen(clcnn_dataset_path(ds, i)) + 1;
        L->paths[i] = memcpy(text, clcnn_dataset_path(ds, i), len);
        L->labels[i] = clcnn_dataset_label(ds, i);
        text += len;
    }
    return 1;
}

static int alloc_slots(clcnn_loader *L) {
    for (int k = 0; k < SLOTS; k++) {
        slot *s = &L->slots[k];
        const size_t b = (size_t)L->batch;
        s->batch = -1;
        s->x = malloc(b * L->image_floats * sizeof *s->x);
        s->labels = malloc(b * sizeof *s->labels);
        s->indices = malloc(b * sizeof *s->indices);
        s->status = malloc(b * sizeof *s->status);
        s->msgs = malloc(b * MSG);
        if (!s->x || !s->labels || !s->indices || !s->status || !s->msgs) return 0;
    }
    return 1;
}

/* Frees everything but the threads (joined before) and the sync objects. */
static void free_memory(clcnn_loader *L) {
    for (int k = 0; k < SLOTS; k++) {
        slot *s = &L->slots[k];
        free(s->x);
        free(s->labels);
        free(s->indices);
        free(s->status);
        free(s->msgs);
    }
    if (L->paths) free(L->paths[0]);
    free(L->paths);
    free(L->labels);
    free(L->order);
    free(L->threads);
    free(L->by_class);
    free(L->class_start);
    free(L);
}

/* by_class and class_start for balanced sampling (a counting sort of the labels, classes
 * without images left out); 0 when out of memory. */
static int group_by_class(clcnn_loader *L) {
    int top = 0;
    for (int i = 0; i < L->n; i++)
        if (L->labels[i] + 1 > top) top = L->labels[i] + 1;
    int *count = calloc((size_t)top + 1, sizeof *count);
    L->by_class = malloc(((size_t)L->n + 1) * sizeof *L->by_class);
    L->class_start = malloc(((size_t)top + 1) * sizeof *L->class_start);
    if (!count || !L->by_class || !L->class_start) {
        free(count);
        return 0;
    }
    for (int i = 0; i < L->n; i++) count[L->labels[i]]++;
    int at = 0; /* count[c] becomes where class c's indices go */
    L->n_classes = 0;
    for (int c = 0; c < top; c++) {
        const int k = count[c];
        count[c] = at;
        if (k) L->class_start[L->n_classes++] = at;
        at += k;
    }
    L->class_start[L->n_classes] = at;
    for (int i = 0; i < L->n; i++) L->by_class[count[L->labels[i]]++] = i; /* in index order within a class */
    free(count);
    return 1;
}

/* Ask the workers to finish their image and end, and wait for them. */
static void stop_threads(clcnn_loader *L, int count) {
    pthread_mutex_lock(&L->lock);
    L->stop = 1;
    pthread_cond_broadcast(&L->work);
    pthread_mutex_unlock(&L->lock);
    for (int i = 0; i < count; i++) pthread_join(L->threads[i], NULL);
}

/* The augmentation and normalisation are checked once here, by preparing a small image
 * (the rules live in clcnn_image_prepare_fit), rather than failing on every image later. */
static clcnn_status check_preparation(clcnn_loader *L) {
    clcnn_image probe;
    clcnn_status st = clcnn_image_create(2, 2, 3, &probe);
    if (st == CLCNN_OK) {
        st = clcnn_image_prepare_fit(&probe, L->size, L->fit, L->has_aug ? &L->aug : NULL, 0, &L->norm,
                                     L->slots[0].x);
        clcnn_image_free(&probe);
    }
    return st == CLCNN_OK ? st : rt_error_prefix(NULL, st, "clcnn_loader_create");
}

static int default_threads(void) {
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus < 1 ? 1 : cpus > 8 ? 8 : (int)cpus;
}

static clcnn_status init_sync(clcnn_loader *L) {
    if (pthread_mutex_init(&L->lock, NULL) != 0) goto fail;
    if (pthread_cond_init(&L->work, NULL) != 0) goto destroy_lock;
    if (pthread_cond_init(&L->done, NULL) != 0) goto destroy_work;
    if (pthread_cond_init(&L->idle, NULL) != 0) goto destroy_done;
    return CLCNN_OK;
destroy_done:
    pthread_cond_destroy(&L->done);
destroy_work:
    pthread_cond_destroy(&L->work);
destroy_lock:
    pthread_mutex_destroy(&L->lock);
fail:
    return rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "clcnn_loader_create: cannot create a mutex or condition");
}

static void destroy_sync(clcnn_loader *L) {
    pthread_cond_destroy(&L->idle);
    pthread_cond_destroy(&L->done);
    pthread_cond_destroy(&L->work);
    pthread_mutex_destroy(&L->lock);
}

clcnn_loader_params clcnn_loader_params_default(void) {
    return (clcnn_loader_params){.batch = 32, .size = 224, .norm = clcnn_normalization_imagenet(),
                                 .fit = CLCNN_FIT_CROP};
}

clcnn_status clcnn_loader_create(const clcnn_dataset *ds, const clcnn_loader_params *params, clcnn_loader **loader) {
    if (loader) *loader = NULL;
    if (!loader) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_loader_create: loader is NULL");
    clcnn_status st = check_params(ds, params);
    if (st != CLCNN_OK) return st;
    clcnn_loader *L = calloc(1, sizeof *L);
    if (!L) return rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "clcnn_loader_create: no host memory");
    L->n = clcnn_dataset_size(ds);
    L->shards = params->shards > 1 ? params->shards : 1;
    L->shard = L->shards > 1 ? params->shard : 0;
    L->batch = params->batch / L->shards;
    L->size = params->size;
    L->batches = (L->n + params->batch - 1) / params->batch;
    L->tasks = L->n;
    if (L->shards > 1) { /* the global batches this share has part of, and its images in them */
        const int last = L->n % params->batch;
        if (last && last < L->shards) L->batches--;
        L->tasks = (long)(L->n / params->batch) * L->batch;
        if (last >= L->shards) L->tasks += share_end(last, L->shard, L->shards) - share_end(last, L->shard - 1, L->shards);
    }
    L->shuffle = params->shuffle != 0;
    L->balanced = params->balanced != 0;
    L->skip_bad = params->skip_bad != 0;
    L->has_aug = params->augment != NULL;
    if (L->has_aug) L->aug = *params->augment;
    L->norm = params->norm;
    L->fit = params->fit;
    L->seed = params->seed;
    L->image_floats = 3 * (size_t)L->size * (size_t)L->size;
    L->n_threads = params->threads ? params->threads : default_threads();
    L->order = malloc((size_t)L->n * sizeof *L->order);
    L->threads = malloc((size_t)L->n_threads * sizeof *L->threads);
    if (!L->order || !L->threads || !copy_dataset(L, ds) || !alloc_slots(L) || (L->balanced && !group_by_class(L))) {
        free_memory(L);
        return rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY,
                           "clcnn_loader_create: no host memory for %d batches of %d images of %dx%d", SLOTS, L->batch,
                           params->size, params->size);
    }
    if ((st = check_preparation(L)) != CLCNN_OK || (st = init_sync(L)) != CLCNN_OK) {
        free_memory(L);
        return st;
    }
    for (int i = 0; i < L->n_threads; i++) {
        if (pthread_create(&L->threads[i], NULL, worker_main, L) != 0) {
            st = rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "clcnn_loader_create: cannot start thread %d of %d", i + 1,
                             L->n_threads);
            stop_threads(L, i);
            destroy_sync(L);
            free_memory(L);
            return st;
        }
    }
    *loader = L;
    return CLCNN_OK;
}

void clcnn_loader_destroy(clcnn_loader *loader) {
    if (!loader) return;
    stop_threads(loader, loader->n_threads);
    destroy_sync(loader);
    free_memory(loader);
}

/* ------------------------------------------------------------------- epochs -- */

clcnn_status clcnn_loader_start(clcnn_loader *loader, int epoch) {
    if (!loader || epoch < 0)
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_loader_start: %s",
                           loader ? "epoch is negative" : "loader is NULL");
    clcnn_loader *L = loader;
    pthread_mutex_lock(&L->lock);
    /* Hand out nothing more, and let the images in flight land (they are dropped). */
    L->started = 0;
    L->gen++;
    while (L->busy > 0) pthread_cond_wait(&L->idle, &L->lock);
    L->epoch_seed = rt_seed_mix(L->seed, (uint64_t)epoch);
    for (int i = 0; i < L->n; i++) L->order[i] = i;
    if (L->balanced && L->n_classes > 0) { /* a class, then an image of it, uniformly, with replacement */
        uint64_t state = L->epoch_seed;
        for (int i = 0; i < L->n; i++) {
            const int c = (int)rt_random_below(&state, (uint64_t)L->n_classes);
            const int first = L->class_start[c], count = L->class_start[c + 1] - first;
            L->order[i] = L->by_class[first + (int)rt_random_below(&state, (uint64_t)count)];
        }
    } else if (L->shuffle) {
        uint64_t state = L->epoch_seed;
        rt_shuffle_ints(L->order, L->n, &state);
    }
    if (L->shards > 1) keep_share(L);
    for (int k = 0; k < SLOTS; k++) L->slots[k].batch = -1;
    L->next_task = 0;
    L->head = 0;
    L->held = 0;
    L->started = 1;
    pthread_cond_broadcast(&L->work);
    pthread_mutex_unlock(&L->lock);
    return CLCNN_OK;
}

/* With the lock held: the caller gives back the batch it holds, freeing its slot. */
static void give_back(clcnn_loader *L) {
    if (!L->held) return;
    L->held = 0;
    L->head++;
    pthread_cond_broadcast(&L->work);
}

/* Batch s as the caller sees it: the first failed image's error, or the good images
 * moved together (skip_bad), each failed one counted and logged. */
static clcnn_status hand_out(clcnn_loader *L, const slot *s, clcnn_batch *batch) {
    int m = 0;
    for (int j = 0; j < s->count; j++) {
        const char *msg = s->msgs + (size_t)j * MSG;
        if (s->status[j] != CLCNN_OK && !L->skip_bad) return rt_error(NULL, s->status[j], "%s", msg);
        if (s->status[j] != CLCNN_OK) {
            L->bad_images++;
            rt_log(CLCNN_LOG_WARN, "clcnn_loader: image %d left out: %s", s->indices[j], msg);
            continue;
        }
        if (m != j) {
            memmove(s->x + (size_t)m * L->image_floats, s->x + (size_t)j * L->image_floats,
                    L->image_floats * sizeof *s->x);
            s->labels[m] = s->labels[j];
            s->indices[m] = s->indices[j];
        }
        m++;
    }
    *batch = (clcnn_batch){.n = m, .x = s->x, .labels = s->labels, .indices = s->indices};
    return CLCNN_OK;
}

clcnn_status clcnn_loader_next(clcnn_loader *loader, clcnn_batch *batch) {
    if (batch) memset(batch, 0, sizeof *batch);
    if (!loader || !batch)
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_loader_next: %s is NULL", batch ? "loader" : "batch");
    clcnn_loader *L = loader;
    pthread_mutex_lock(&L->lock);
    if (!L->started) {
        pthread_mutex_unlock(&L->lock);
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_loader_next: no epoch started (clcnn_loader_start)");
    }
    for (;;) {
        give_back(L);
        if (L->head >= L->batches) break; /* the end of the epoch: n = 0 */
        slot *s = &L->slots[L->head % SLOTS];
        while (s->batch != L->head || s->pending > 0) pthread_cond_wait(&L->done, &L->lock);
        L->held = 1;
        /* The slot is the caller's until given back: no worker writes it meanwhile. */
        pthread_mutex_unlock(&L->lock);
        const clcnn_status st = hand_out(L, s, batch);
        if (st != CLCNN_OK || batch->n > 0) return st;
        if (L->shards > 1) /* the other shares go on with this batch: skipping it would put the ranks out of step */
            return rt_error(NULL, CLCNN_ERR_FORMAT,
                               "clcnn_loader_next: every image of share %d of %d of batch %ld is unreadable (see the "
                               "warnings above)", L->shard + 1, L->shards, L->head + 1);
        pthread_mutex_lock(&L->lock); /* every image of the batch failed: on to the next */
    }
    pthread_mutex_unlock(&L->lock);
    return CLCNN_OK;
}

int clcnn_loader_batches(const clcnn_loader *loader) { return loader ? loader->batches : 0; }
int clcnn_loader_bad_images(const clcnn_loader *loader) { return loader ? loader->bad_images : 0; }
