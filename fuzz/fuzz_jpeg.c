/* fuzz_jpeg.c: JPEG decoding (libjpeg-turbo behind clcnn_image_decode, with the EXIF
 * orientation reader and CMYK conversion), then preprocessing. Seeds: fuzz/corpus/jpeg
 * (baseline, progressive, gray, CMYK, restart markers, every EXIF orientation). */
#include "fuzz_image_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_decode_one(data, size, "fuzz.jpg"); }
