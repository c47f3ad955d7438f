/* fault.c: CLCNN_FAULT, failures on purpose (see fault.h). The hooks sit where the real
 * failures happen: tensor.c's pool (a buffer it must create), program.c's rt_launch
 * (the enqueue) and atomic_file.c's commit (where a full disk shows). Counting is always
 * on (one atomic add per call), so a test can run once to learn how many calls a job
 * makes and then walk N over them. */
#include "runtime/fault.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime/internal.h"

enum { MAX_RULES = 16 };

typedef struct {
    rt_fault_kind kind;
    unsigned long n; /* the call (from 1) that fails */
    int onward;      /* KIND:N+: and every later one */
} fault_rule;

static const char *const kind_names[CLCNN_FAULT_KINDS] = {"alloc", "launch", "write"};

static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static fault_rule rules[MAX_RULES];
static atomic_int rule_count;
static atomic_ulong calls[CLCNN_FAULT_KINDS], injected[CLCNN_FAULT_KINDS];

/* One KIND:N[+] item of length len into *r; 0 on success. */
static int parse_item(const char *item, size_t len, fault_rule *r) {
    const char *colon = memchr(item, ':', len);
    if (!colon) return -1;
    int kind = -1;
    for (int k = 0; k < CLCNN_FAULT_KINDS; k++)
        if (strlen(kind_names[k]) == (size_t)(colon - item) && !strncmp(item, kind_names[k], (size_t)(colon - item)))
            kind = k;
    char digits[24];
    size_t nd = len - (size_t)(colon + 1 - item);
    if (kind < 0 || nd == 0 || nd >= sizeof digits) return -1;
    memcpy(digits, colon + 1, nd);
    digits[nd] = 0;
    r->onward = digits[nd - 1] == '+';
    if (r->onward) digits[nd - 1] = 0;
    char *end;
    errno = 0;
    r->n = strtoul(digits, &end, 10);
    if (digits[0] < '0' || digits[0] > '9' || *end || r->n == 0 || errno == ERANGE) return -1;
    r->kind = (rt_fault_kind)kind;
    return 0;
}

/* The whole comma list into out[]; the number of rules, or -1 when malformed. */
static int parse_spec(const char *spec, fault_rule *out) {
    int count = 0;
    for (const char *p = spec; p && *p;) {
        const size_t len = strcspn(p, ",");
        if (len > 0) {
            if (count == MAX_RULES || parse_item(p, len, &out[count]) != 0) return -1;
            count++;
        }
        p += len;
        if (*p == ',') p++;
    }
    return count;
}

static void reset_counters(void) {
    for (int k = 0; k < CLCNN_FAULT_KINDS; k++) {
        atomic_store(&calls[k], 0);
        atomic_store(&injected[k], 0);
    }
}

/* CLCNN_FAULT, once per process; a malformed value is logged and injects nothing. */
static void read_env(void) {
    const char *spec = getenv("CLCNN_FAULT");
    fault_rule parsed[MAX_RULES];
    const int n = spec ? parse_spec(spec, parsed) : 0;
    if (n < 0) {
        rt_log(CLCNN_LOG_WARN, "CLCNN_FAULT=%s is not a list of alloc:N, launch:N or write:N (N >= 1, "
                  "optionally N+): ignored", spec);
        return;
    }
    memcpy(rules, parsed, (size_t)n * sizeof *rules);
    atomic_store(&rule_count, n);
}

clcnn_status rt_fault_configure(const char *spec) {
    pthread_once(&env_once, read_env); /* so that it cannot run later over this plan */
    fault_rule parsed[MAX_RULES];
    const int n = parse_spec(spec, parsed);
    if (n < 0)
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "fault plan \"%s\" is not a list of alloc:N, launch:N "
                           "or write:N (N >= 1, optionally N+)", spec);
    atomic_store(&rule_count, 0);
    memcpy(rules, parsed, (size_t)n * sizeof *rules);
    reset_counters();
    atomic_store(&rule_count, n);
    return CLCNN_OK;
}

int rt_fault_hit(rt_fault_kind kind) {
    if ((int)kind < 0 || kind >= CLCNN_FAULT_KINDS) return 0;
    pthread_once(&env_once, read_env);
    const unsigned long n = atomic_fetch_add(&calls[kind], 1) + 1;
    const int count = atomic_load(&rule_count);
    for (int i = 0; i < count; i++)
        if (rules[i].kind == kind && (n == rules[i].n || (rules[i].onward && n > rules[i].n))) {
            atomic_fetch_add(&injected[kind], 1);
            rt_log(CLCNN_LOG_DEBUG, "CLCNN_FAULT: failing %s call %lu", kind_names[kind], n);
            return 1;
        }
    return 0;
}

unsigned long rt_fault_calls(rt_fault_kind kind) {
    return (int)kind >= 0 && kind < CLCNN_FAULT_KINDS ? atomic_load(&calls[kind]) : 0;
}

unsigned long rt_fault_injected(rt_fault_kind kind) {
    return (int)kind >= 0 && kind < CLCNN_FAULT_KINDS ? atomic_load(&injected[kind]) : 0;
}
