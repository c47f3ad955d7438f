#include "harness.h"
const test_case test_net_cases[] = {{NULL, NULL}};
