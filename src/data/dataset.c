/* dataset.c: labelled image lists. Two sources: an ImageFolder tree (ROOT/CLASS/FILE,
 * classes and files in byte-wise sorted order, as torchvision's ImageFolder) and a CSV
 * file of "path,label" lines. Both are read into a builder (image paths, each with a
 * candidate class: a folder name or a distinct label), and one finishing step turns the
 * candidates into the class list, either sorted or the caller's, so that the two
 * sources cannot disagree on ordering or errors. Nothing is decoded here: the loader
 * reports unreadable images. Also the seeded stratified split. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "runtime/random.h"
#include "runtime/error.h"

struct clcnn_dataset {
    int n;          /* images */
    char **paths;   /* [n] */
    int *labels;    /* [n] class indices */
    int n_classes;
    char **classes; /* [n_classes] names */
};

/* ------------------------------------------------------------ string lists -- */

typedef struct {
    char **v;
    int n, cap;
} str_list;

static void str_list_free(str_list *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    *l = (str_list){0};
}

/* Append s, taking ownership of it (freed here when the list cannot grow). */
static int str_list_take(str_list *l, char *s) {
    if (!s) return 0;
    if (l->n == l->cap) {
        const int cap = l->cap ? l->cap * 2 : 16;
        char **v = l->cap < (1 << 29) ? realloc(l->v, (size_t)cap * sizeof *v) : NULL;
        if (!v) {
            free(s);
            return 0;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = s;
    return 1;
}

static int cmp_str_ptr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* "a/b" without doubling a trailing slash of a; NULL when out of memory. */
static char *path_join(const char *a, const char *b) {
    size_t la = strlen(a);
    while (la > 1 && a[la - 1] == '/') la--;
    const size_t lb = strlen(b);
    char *s = malloc(la + lb + 2);
    if (!s) return NULL;
    memcpy(s, a, la);
    s[la] = '/';
    memcpy(s + la + 1, b, lb + 1);
    return s;
}

/* ----------------------------------------------------------------- builder -- */

/* What a source yields before classes are numbered. */
typedef struct {
    str_list paths;   /* image paths */
    int *cand;        /* [paths.n] index into names, once known */
    str_list labels;  /* CSV only: each image's label text, until candidates are made */
    str_list names;   /* candidate class names: folder names or distinct labels */
    int numeric;      /* names are all non-negative integers: order them by value */
} builder;

static void builder_free(builder *b) {
    str_list_free(&b->paths);
    str_list_free(&b->labels);
    str_list_free(&b->names);
    free(b->cand);
    *b = (builder){0};
}

static clcnn_status no_memory(const char *what) {
    return rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "clcnn_dataset_open: %s: no host memory", what);
}

/* ------------------------------------------------------------- ImageFolder -- */

static int has_image_extension(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name) return 0;
    static const char *const exts[] = {".png", ".jpg", ".jpeg"};
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        const char *e = exts[i];
        const char *p = dot;
        while (*p && *e && tolower((unsigned char)*p) == *e) p++, e++;
        if (!*p && !*e) return 1;
    }
    return 0;
}

enum { WANT_DIRS, WANT_IMAGES };

/* The visible entries of dir that are folders (WANT_DIRS) or regular files with an image
 * extension (WANT_IMAGES), symlinks followed, names sorted byte-wise into *out. */
static clcnn_status list_dir(const char *dir, int want, str_list *out) {
    DIR *d = opendir(dir);
    if (!d) return rt_error(NULL, CLCNN_ERR_IO, "%s: cannot open folder (%s)", dir, strerror(errno));
    clcnn_status st = CLCNN_OK;
    for (;;) {
        errno = 0;
        const struct dirent *e = readdir(d);
        if (!e) {
            if (errno) st = rt_error(NULL, CLCNN_ERR_IO, "%s: cannot read folder (%s)", dir, strerror(errno));
            break;
        }
        if (e->d_name[0] == '.' || (want == WANT_IMAGES && !has_image_extension(e->d_name))) continue;
        char *full = path_join(dir, e->d_name);
        if (!full) {
            st = no_memory(dir);
            break;
        }
        struct stat sb;
        const int ok = stat(full, &sb) == 0;
        if (!ok) rt_log(CLCNN_LOG_WARN, "%s: skipped (%s)", full, strerror(errno));
        free(full);
        if (!ok || !(want == WANT_DIRS ? S_ISDIR(sb.st_mode) : S_ISREG(sb.st_mode))) continue;
        if (!str_list_take(out, strdup(e->d_name))) {
            st = no_memory(dir);
            break;
        }
    }
    closedir(d);
    if (st == CLCNN_OK && out->n > 1) qsort(out->v, (size_t)out->n, sizeof *out->v, cmp_str_ptr);
    return st;
}

/* Folders below a class folder that are followed, at most (a guard against deep trees). */
#define CLASS_TREE_MAX_DEPTH 32

/* The folders of the tree under dir, dir included, into *dirs (unsorted), following
 * symbolic links but never one that leads back to a folder on the way down from the
 * class folder (ancestors[0 .. depth)). */
static clcnn_status collect_dirs(const char *dir, struct stat *ancestors, int depth, str_list *dirs) {
    struct stat here;
    if (stat(dir, &here) != 0) return rt_error(NULL, CLCNN_ERR_IO, "%s: cannot open folder (%s)", dir, strerror(errno));
    for (int i = 0; i < depth; i++)
        if (ancestors[i].st_dev == here.st_dev && ancestors[i].st_ino == here.st_ino) {
            rt_log(CLCNN_LOG_WARN, "%s: skipped (a link back to a folder above it)", dir);
            return CLCNN_OK;
        }
    if (depth >= CLASS_TREE_MAX_DEPTH) {
        rt_log(CLCNN_LOG_WARN, "%s: skipped (more than %d folders deep)", dir, CLASS_TREE_MAX_DEPTH);
        return CLCNN_OK;
    }
    ancestors[depth] = here;
    char *copy = strdup(dir);
    if (!str_list_take(dirs, copy)) return no_memory(dir);
    str_list subs = {0};
    clcnn_status st = list_dir(dir, WANT_DIRS, &subs);
    for (int i = 0; i < subs.n && st == CLCNN_OK; i++) {
        char *sub = path_join(dir, subs.v[i]);
        st = sub ? collect_dirs(sub, ancestors, depth + 1, dirs) : no_memory(dir);
        free(sub);
    }
    str_list_free(&subs);
    return st;
}

/* Add the images of one class folder and every folder below it, all with candidate
 * class k, in the order of torchvision's ImageFolder: folder by folder in byte-wise
 * order of their paths (a folder before its subfolders), each folder's images sorted. */
static clcnn_status add_class_folder(builder *b, const char *root, const char *name, int k) {
    str_list dirs = {0}, files = {0};
    struct stat ancestors[CLASS_TREE_MAX_DEPTH];
    char *dir = path_join(root, name);
    if (!dir) return no_memory(root);
    clcnn_status st = collect_dirs(dir, ancestors, 0, &dirs);
    if (st == CLCNN_OK && dirs.n > 1) qsort(dirs.v, (size_t)dirs.n, sizeof *dirs.v, cmp_str_ptr);
    const int before = b->paths.n;
    for (int d = 0; d < dirs.n && st == CLCNN_OK; d++) {
        str_list_free(&files);
        if ((st = list_dir(dirs.v[d], WANT_IMAGES, &files)) != CLCNN_OK) break;
        int *cand = realloc(b->cand, ((size_t)b->paths.n + (size_t)files.n + 1) * sizeof *cand);
        if (!cand) {
            st = no_memory(dir);
            break;
        }
        b->cand = cand;
        for (int i = 0; i < files.n && st == CLCNN_OK; i++) {
            b->cand[b->paths.n] = k;
            if (!str_list_take(&b->paths, path_join(dirs.v[d], files.v[i]))) st = no_memory(dir);
        }
    }
    if (st == CLCNN_OK && b->paths.n == before)
        rt_log(CLCNN_LOG_WARN, "%s: class folder with no images (.png, .jpg, .jpeg)", dir);
    str_list_free(&files);
    str_list_free(&dirs);
    free(dir);
    return st;
}

static clcnn_status scan_folder(const char *root, builder *b) {
    clcnn_status st = list_dir(root, WANT_DIRS, &b->names);
    if (st != CLCNN_OK) return st;
    if (b->names.n == 0)
        return rt_error(NULL, CLCNN_ERR_NOT_FOUND, "%s: no class folders (expected ROOT/CLASS/IMAGE)", root);
    for (int k = 0; k < b->names.n && st == CLCNN_OK; k++) st = add_class_folder(b, root, b->names.v[k], k);
    return st;
}

/* --------------------------------------------------------------------- CSV -- */

/* One CSV field at *p, in place: unquoted (spaces around it trimmed, no quotes inside)
 * or quoted ("" for a quote, commas allowed). *p moves past the field and its comma,
 * *more says whether there was one. Returns NULL or what is wrong. */
static const char *csv_field(char **p, char **field, int *more) {
    char *s = *p, *end;
    while (*s == ' ' || *s == '\t') s++;
    if (*s == '"') {
        *field = end = ++s;
        for (;; s++) {
            if (!*s) return "a quoted field is not closed on its line";
            if (*s == '"' && s[1] != '"') break;
            if (*s == '"') s++; /* "" stands for one quote */
            *end++ = *s;
        }
        s++;
        while (*s == ' ' || *s == '\t') s++;
        if (*s && *s != ',') return "text after a closing quote";
    } else {
        for (*field = s; *s && *s != ','; s++)
            if (*s == '"') return "a quote inside an unquoted field (quote the whole field)";
        end = s;
        while (end > *field && (end[-1] == ' ' || end[-1] == '\t')) end--;
    }
    *more = *s == ',';
    *p = *more ? s + 1 : s;
    *end = '\0'; /* last: end may be where the comma was */
    return NULL;
}

/* Split a line into path and label; NULL or the reason it is malformed. */
static const char *csv_line(char *line, char **path, char **label) {
    int more;
    const char *why = csv_field(&line, path, &more);
    if (why) return why;
    if (!more) return "one field, expected path,label";
    if ((why = csv_field(&line, label, &more)) != NULL) return why;
    if (more) return "more than two fields, expected path,label";
    if (!**path) return "empty path";
    if (!**label) return "empty label";
    return NULL;
}

static int is_blank(const char *s) {
    while (*s == ' ' || *s == '\t') s++;
    return *s == '\0';
}

/* Add one image: path relative to the CSV's folder (dir_len bytes of csv, with the
 * slash) unless absolute. */
static int csv_add(builder *b, const char *csv, size_t dir_len, const char *path, const char *label) {
    char *full;
    if (path[0] == '/' || dir_len == 0) {
        full = strdup(path);
    } else if ((full = malloc(dir_len + strlen(path) + 1)) != NULL) {
        memcpy(full, csv, dir_len);
        strcpy(full + dir_len, path);
    }
    return str_list_take(&b->paths, full) && str_list_take(&b->labels, strdup(label));
}

static clcnn_status scan_csv_lines(const char *csv, FILE *f, builder *b) {
    const char *slash = strrchr(csv, '/');
    const size_t dir_len = slash ? (size_t)(slash - csv) + 1 : 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int line_no = 0, seen_content = 0;
    clcnn_status st = CLCNN_OK;
    while ((len = getline(&line, &cap, f)) >= 0) {
        line_no++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        char *s = line;
        if (line_no == 1 && !strncmp(s, "\xEF\xBB\xBF", 3)) s += 3; /* a UTF-8 byte order mark */
        if (is_blank(s)) continue;
        if (!seen_content++ && !strcmp(s, "path,label")) continue;
        char *path, *label;
        const char *why = csv_line(s, &path, &label);
        if (why) {
            st = rt_error(NULL, CLCNN_ERR_FORMAT, "%s:%d: %s", csv, line_no, why);
            goto free_line;
        }
        if (!csv_add(b, csv, dir_len, path, label)) {
            st = no_memory(csv);
            goto free_line;
        }
    }
    if (!feof(f)) /* getline stopped early: out of memory or a read error */
        st = errno == ENOMEM ? no_memory(csv)
                             : rt_error(NULL, CLCNN_ERR_IO, "%s: read failed (%s)", csv, strerror(errno));
free_line:
    free(line);
    return st;
}

typedef struct {
    const char *s;
    int i;
} str_index;

static int cmp_str_index(const void *a, const void *b) {
    const str_index *x = a, *y = b;
    const int c = strcmp(x->s, y->s);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* The distinct labels become the candidate names, each image's cand its label's. */
static clcnn_status csv_candidates(const char *csv, builder *b) {
    const int n = b->labels.n;
    str_index *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    b->cand = malloc((size_t)(n ? n : 1) * sizeof *b->cand);
    if (!order || !b->cand) {
        free(order);
        return no_memory(csv);
    }
    for (int i = 0; i < n; i++) order[i] = (str_index){b->labels.v[i], i};
    qsort(order, (size_t)n, sizeof *order, cmp_str_index);
    for (int r = 0; r < n; r++) {
        if (r == 0 || strcmp(order[r].s, order[r - 1].s) != 0) {
            if (!str_list_take(&b->names, strdup(order[r].s))) {
                free(order);
                return no_memory(csv);
            }
        }
        b->cand[order[r].i] = b->names.n - 1;
    }
    free(order);
    return CLCNN_OK;
}

static int is_integer_text(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

static clcnn_status scan_csv(const char *csv, builder *b) {
    FILE *f = fopen(csv, "rb");
    if (!f) return rt_error(NULL, CLCNN_ERR_IO, "%s: cannot open (%s)", csv, strerror(errno));
    clcnn_status st = scan_csv_lines(csv, f, b);
    fclose(f);
    if (st == CLCNN_OK) st = csv_candidates(csv, b);
    if (st != CLCNN_OK) return st;
    b->numeric = b->names.n > 0;
    for (int k = 0; k < b->names.n && b->numeric; k++) b->numeric = is_integer_text(b->names.v[k]);
    return CLCNN_OK;
}

/* ---------------------------------------------------------- the class list -- */

/* Compare non-negative integers written in decimal, of any length, by value; equal
 * values written differently ("07", "7") are ordered by their text. */
static int cmp_numeric(const char *a, const char *b) {
    const char *x = a, *y = b;
    while (*x == '0' && x[1]) x++;
    while (*y == '0' && y[1]) y++;
    const size_t lx = strlen(x), ly = strlen(y);
    if (lx != ly) return lx < ly ? -1 : 1;
    const int c = strcmp(x, y);
    return c ? c : strcmp(a, b);
}

static int cmp_numeric_index(const void *a, const void *b) {
    return cmp_numeric(((const str_index *)a)->s, ((const str_index *)b)->s);
}

static clcnn_status check_given_classes(int n_classes, const char *const *classes) {
    if (n_classes < 1)
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_dataset_open: %d classes given", n_classes);
    for (int k = 0; k < n_classes; k++) {
        if (!classes[k] || !classes[k][0])
            return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_dataset_open: given class %d has no name", k);
        for (int j = 0; j < k; j++)
            if (!strcmp(classes[j], classes[k]))
                return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT,
                                   "clcnn_dataset_open: class \"%s\" is given twice (%d and %d)", classes[k], j, k);
    }
    return CLCNN_OK;
}

/* map[c]: the class index of candidate c in the given list; the class names are copied. */
static clcnn_status map_to_given(const char *src, const builder *b, int n_given, const char *const *given, int *map,
                                 clcnn_dataset *ds) {
    for (int c = 0; c < b->names.n; c++) {
        map[c] = -1;
        for (int k = 0; k < n_given && map[c] < 0; k++)
            if (!strcmp(b->names.v[c], given[k])) map[c] = k;
        if (map[c] < 0)
            return rt_error(NULL, CLCNN_ERR_NOT_FOUND, "%s: class \"%s\" is not one of the %d given classes", src,
                               b->names.v[c], n_given);
    }
    for (int k = 0; k < n_given; k++)
        if ((ds->classes[k] = strdup(given[k])) == NULL) return no_memory(src);
    return CLCNN_OK;
}

/* map[c]: the rank of candidate c in sorted order; the names move into ds. */
static clcnn_status map_to_sorted(const char *src, builder *b, int *map, clcnn_dataset *ds) {
    const int n = b->names.n;
    str_index *order = malloc((size_t)n * sizeof *order);
    if (!order) return no_memory(src);
    for (int c = 0; c < n; c++) order[c] = (str_index){b->names.v[c], c};
    qsort(order, (size_t)n, sizeof *order, b->numeric ? cmp_numeric_index : cmp_str_index);
    for (int r = 0; r < n; r++) {
        map[order[r].i] = r;
        ds->classes[r] = b->names.v[order[r].i];
    }
    b->names.n = 0; /* ownership moved */
    free(order);
    return CLCNN_OK;
}

/* A zeroed data set with room for n images and k classes; NULL when out of memory. */
static clcnn_dataset *dataset_alloc(int n, int k) {
    clcnn_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return NULL;
    ds->paths = calloc((size_t)(n ? n : 1), sizeof *ds->paths);
    ds->labels = calloc((size_t)(n ? n : 1), sizeof *ds->labels);
    ds->classes = calloc((size_t)(k ? k : 1), sizeof *ds->classes);
    ds->n = n;
    ds->n_classes = k;
    if (!ds->paths || !ds->labels || !ds->classes) {
        clcnn_dataset_destroy(ds);
        return NULL;
    }
    return ds;
}

/* Number the builder's classes (given or sorted) and move its images into a data set. */
static clcnn_status finish(const char *src, builder *b, int n_given, const char *const *given, clcnn_dataset **out) {
    if (b->paths.n == 0)
        return rt_error(NULL, CLCNN_ERR_NOT_FOUND, "%s: no images in the data set", src);
    clcnn_status st = CLCNN_OK;
    clcnn_dataset *ds = dataset_alloc(b->paths.n, given ? n_given : b->names.n);
    int *map = malloc((size_t)b->names.n * sizeof *map);
    if (!ds || !map) {
        st = no_memory(src);
        goto fail;
    }
    st = given ? map_to_given(src, b, n_given, given, map, ds) : map_to_sorted(src, b, map, ds);
    if (st != CLCNN_OK) goto fail;
    for (int i = 0; i < ds->n; i++) {
        ds->paths[i] = b->paths.v[i];
        ds->labels[i] = map[b->cand[i]];
    }
    b->paths.n = 0; /* ownership moved */
    free(map);
    *out = ds;
    return CLCNN_OK;
fail:
    free(map);
    clcnn_dataset_destroy(ds);
    return st;
}

clcnn_status clcnn_dataset_open(const char *path, int n_classes, const char *const *classes, clcnn_dataset **ds) {
    if (ds) *ds = NULL;
    if (!path || !ds)
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_dataset_open: %s is NULL", path ? "ds" : "path");
    clcnn_status st = classes ? check_given_classes(n_classes, classes) : CLCNN_OK;
    if (st != CLCNN_OK) return st;
    struct stat sb;
    if (stat(path, &sb) != 0) return rt_error(NULL, CLCNN_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    builder b = {0};
    st = S_ISDIR(sb.st_mode) ? scan_folder(path, &b) : scan_csv(path, &b);
    if (st == CLCNN_OK) st = finish(path, &b, n_classes, classes, ds);
    builder_free(&b);
    return st;
}

void clcnn_dataset_destroy(clcnn_dataset *ds) {
    if (!ds) return;
    if (ds->paths)
        for (int i = 0; i < ds->n; i++) free(ds->paths[i]);
    if (ds->classes)
        for (int k = 0; k < ds->n_classes; k++) free(ds->classes[k]);
    free(ds->paths);
    free(ds->labels);
    free(ds->classes);
    free(ds);
}

int clcnn_dataset_size(const clcnn_dataset *ds) { return ds ? ds->n : 0; }
int clcnn_dataset_class_count(const clcnn_dataset *ds) { return ds ? ds->n_classes : 0; }

const char *clcnn_dataset_class_name(const clcnn_dataset *ds, int k) {
    return ds && k >= 0 && k < ds->n_classes ? ds->classes[k] : NULL;
}

const char *clcnn_dataset_path(const clcnn_dataset *ds, int index) {
    return ds && index >= 0 && index < ds->n ? ds->paths[index] : NULL;
}

int clcnn_dataset_label(const clcnn_dataset *ds, int index) {
    return ds && index >= 0 && index < ds->n ? ds->labels[index] : -1;
}

/* ------------------------------------------------------------------- split -- */

/* The images of ds with pick[i] == want, in ds's order, with ds's classes. */
static clcnn_status subset(const char *op, const clcnn_dataset *ds, const unsigned char *pick, int want, int count,
                           clcnn_dataset **out) {
    clcnn_dataset *s = dataset_alloc(count, ds->n_classes);
    if (!s) goto no_memory;
    for (int k = 0; k < ds->n_classes; k++)
        if ((s->classes[k] = strdup(ds->classes[k])) == NULL) goto no_memory;
    for (int i = 0, j = 0; i < ds->n; i++) {
        if (pick[i] != want) continue;
        if ((s->paths[j] = strdup(ds->paths[i])) == NULL) goto no_memory;
        s->labels[j++] = ds->labels[i];
    }
    *out = s;
    return CLCNN_OK;
no_memory:
    clcnn_dataset_destroy(s);
    return rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory for %d images", op, count);
}

/* Images of class k to the validation set: round(fraction * count), at least one of two or more. */
static int val_count(float fraction, int count) {
    int v = (int)floor((double)fraction * count + 0.5);
    return count >= 2 && v < 1 ? 1 : v;
}

/* pick[i] = 1 for the images of ds chosen for validation: within each class, Fisher-Yates
 * with the class's own stream, then the first val_count. Returns how many, or -1. */
static int choose_val(const clcnn_dataset *ds, float fraction, uint64_t seed, unsigned char *pick) {
    int *start = calloc((size_t)ds->n_classes + 1, sizeof *start);
    int *fill = calloc((size_t)ds->n_classes, sizeof *fill);
    int *grouped = malloc((size_t)ds->n * sizeof *grouped);
    int total = -1;
    if (!start || !fill || !grouped) goto free_all;
    /* Counting sort by class keeps each class's images in data set order. */
    for (int i = 0; i < ds->n; i++) start[ds->labels[i] + 1]++;
    for (int k = 0; k < ds->n_classes; k++) start[k + 1] += start[k];
    for (int i = 0; i < ds->n; i++) grouped[start[ds->labels[i]] + fill[ds->labels[i]]++] = i;
    total = 0;
    for (int k = 0; k < ds->n_classes; k++) {
        const int count = start[k + 1] - start[k], v = val_count(fraction, count);
        uint64_t state = rt_seed_mix(seed, (uint64_t)k);
        rt_shuffle_ints(grouped + start[k], count, &state);
        for (int j = 0; j < v; j++) pick[grouped[start[k] + j]] = 1;
        total += v;
    }
free_all:
    free(start);
    free(fill);
    free(grouped);
    return total;
}

clcnn_status clcnn_dataset_split(const clcnn_dataset *ds, float fraction, uint64_t seed, clcnn_dataset **train,
                                 clcnn_dataset **val) {
    if (train) *train = NULL;
    if (val) *val = NULL;
    if (!ds || !train || !val)
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_dataset_split: %s is NULL",
                           !ds ? "ds" : !train ? "train" : "val");
    if (!(fraction > 0.0f && fraction < 1.0f))
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_dataset_split: fraction %g is not in (0, 1)",
                           (double)fraction);
    clcnn_status st = CLCNN_OK;
    unsigned char *pick = calloc((size_t)ds->n, 1);
    const int n_val = pick ? choose_val(ds, fraction, seed, pick) : -1;
    if (n_val < 0) {
        st = rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "clcnn_dataset_split: no host memory for %d images", ds->n);
        goto free_pick;
    }
    if (n_val == 0 || n_val == ds->n) {
        st = rt_error(NULL, CLCNN_ERR_NOT_FOUND,
                         "clcnn_dataset_split: fraction %g of %d images leaves the %s set empty", (double)fraction,
                         ds->n, n_val == 0 ? "validation" : "training");
        goto free_pick;
    }
    st = subset("clcnn_dataset_split", ds, pick, 0, ds->n - n_val, train);
    if (st == CLCNN_OK && (st = subset("clcnn_dataset_split", ds, pick, 1, n_val, val)) != CLCNN_OK) {
        clcnn_dataset_destroy(*train);
        *train = NULL;
    }
free_pick:
    free(pick);
    return st;
}

clcnn_status clcnn_dataset_shard(const clcnn_dataset *ds, int shard, int shards, clcnn_dataset **out) {
    if (out) *out = NULL;
    if (!ds || !out)
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_dataset_shard: %s is NULL", ds ? "out" : "ds");
    if (shards < 1 || shard < 0 || shard >= shards)
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_dataset_shard: shard %d of %d", shard, shards);
    unsigned char *pick = malloc((size_t)ds->n + 1);
    if (!pick) return rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "clcnn_dataset_shard: no host memory");
    int count = 0;
    for (int i = 0; i < ds->n; i++) count += pick[i] = i % shards == shard;
    const clcnn_status st = subset("clcnn_dataset_shard", ds, pick, 1, count, out);
    free(pick);
    return st;
}
