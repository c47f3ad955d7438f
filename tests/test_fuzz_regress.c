/* test_fuzz_regress.c: placeholder; its owner fills it in. */
#include "harness.h"

const test_case test_fuzz_regress_cases[] = {{NULL, NULL}};
