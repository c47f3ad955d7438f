/* test_cam.c: placeholder, filled in by its owner. */
#include "harness.h"

const test_case test_cam_cases[] = {{NULL, NULL}};
