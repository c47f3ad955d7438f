/* test_preprocess.c: placeholder, filled in by its owner. */
#include "harness.h"

const test_case test_preprocess_cases[] = {{NULL, NULL}};
