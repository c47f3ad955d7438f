#include "harness.h"
const test_case test_api_cases[] = {{NULL, NULL}};
