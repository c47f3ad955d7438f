/* test_dataset.c: placeholder, filled in by its owner. */
#include "harness.h"

const test_case test_dataset_cases[] = {{NULL, NULL}};
