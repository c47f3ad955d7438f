#include "harness.h"
const test_case test_runtime_cases[] = {{NULL, NULL}};
