/* test_render.c: placeholder, filled in by its owner. */
#include "harness.h"

const test_case test_render_cases[] = {{NULL, NULL}};
