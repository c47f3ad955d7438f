/* test_image.c: placeholder, filled in by its owner. */
#include "harness.h"

const test_case test_image_cases[] = {{NULL, NULL}};
