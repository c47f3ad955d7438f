/* fuzz_png.c: PNG decoding (libpng behind clcnn_image_decode), then preprocessing.
 * Seeds: fuzz/corpus/png (every colour type and depth, interlaced, tRNS). */
#include "fuzz_image_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_decode_one(data, size, "fuzz.png"); }
