/* fault.h: fault injection (CLCNN_FAULT), so that tests can make the n-th device
 * allocation, kernel launch or file save fail on purpose and check that every caller
 * turns it into a clear error, leaks nothing and leaves whole files. Not public. */
#ifndef CLCNN_RUNTIME_FAULT_H
#define CLCNN_RUNTIME_FAULT_H

#include "clcnn.h"

typedef enum {
    CLCNN_FAULT_ALLOC = 0, /* a device buffer the pool must create (clCreateBuffer; pool reuses not counted) */
    CLCNN_FAULT_LAUNCH,    /* a kernel enqueued by rt_launch */
    CLCNN_FAULT_WRITE,     /* a file saved through atomic_file.c, counted at its commit */
    CLCNN_FAULT_KINDS
} rt_fault_kind;

/* What an injected failure adds to its error message. */
#define CLCNN_FAULT_NOTE " (injected fault)"

/* Count one call of `kind` and say whether it must fail (1) or go ahead (0). The first
 * call of any kind reads CLCNN_FAULT: a comma list of KIND:N (the N-th call of KIND
 * since the process started fails) or KIND:N+ (the N-th and every later one fail),
 * KIND one of alloc, launch, write, e.g. CLCNN_FAULT=alloc:3,write:2+. Thread-safe. */
int rt_fault_hit(rt_fault_kind kind);

/* Calls of `kind` counted so far, and how many of them were made to fail. */
unsigned long rt_fault_calls(rt_fault_kind kind);
unsigned long rt_fault_injected(rt_fault_kind kind);

/* Replace the plan with spec (CLCNN_FAULT's syntax; NULL or "" injects nothing) and
 * zero the counters: for in-process tests, while no other thread makes counted calls.
 * CLCNN_ERR_INVALID_ARGUMENT (thread's last error) on a malformed spec, plan unchanged. */
clcnn_status rt_fault_configure(const char *spec);

#endif
