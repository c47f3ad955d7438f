/* test_tool.c: placeholder, filled in by its owner. */
#include "harness.h"

const test_case test_tool_cases[] = {{NULL, NULL}};
