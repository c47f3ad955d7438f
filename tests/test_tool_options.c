/* test_tool_options.c: each option of eval, predict and cam reaches what it controls,
 * 0 included where 0 means something (issue 27; train's own: tool_train_options_reach_
 * trainer): eval's --batch the loader's batches, --size and --fit (on wide pictures) the
 * inputs; predict's
 * --top the report and --batch nothing it prints; cam's --alpha (0: the picture, 1: the
 * heatmap), --threshold 0, --max-boxes 0 and 1, --class, --method and --layer as
 * cam.json records them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "tmptree.h"

/* Synthetic data and a compact net trained on it for one epoch, in t. */
static int trained_model(tmptree *t, const char *tag) {
    if (!tmptree_open(t, tag)) return 0;
    const char *b = tmptree_build_dir(), *r = t->root;
    int rc = tmptree_run(t, "synthetic", "%s/make_synthetic %s/data --train 24 --val 8 --size 32 --seed 3", b, r);
    if (rc == 0)
        rc = tmptree_run(t, "train", "%s/clcnn train --data %s/data/train --arch compact --size 32 --batch 8 --epochs 1 "
                         "--threads 2 --out %s/run", b, r, r);
    CHECK(rc == 0, "making the data and model exited %d (see %s)", rc, r);
    return rc == 0;
}

/* The output (stdout, or stderr with err) of `clcnn ARGS` run in t, malloc'd; NULL and a
 * failed check when it exits non-zero. */
static char *tool_output(tmptree *t, int err, const char *args) {
    const int rc = tmptree_run(t, "cmd", "%s/clcnn %s", tmptree_build_dir(), args);
    char *out = tmptree_slurp(t, err ? "cmd.err" : "cmd.out");
    CHECK(rc == 0 && out, "clcnn %s exited %d", args, rc);
    if (rc != 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* Every picture of the class folders under ROOT/from, stretched to 64 x 32, into ROOT/to. */
static int wide_copies(tmptree *t, const char *from, const char *to) {
    static const char *const classes[] = {"damaged", "intact"};
    int ok = 1, n = 0;
    for (int c = 0; c < 2 && ok; c++) {
        char dir[300];
        snprintf(dir, sizeof dir, "%s/%s", to, classes[c]);
        ok = tmptree_mkdir(t, dir);
        for (int i = 0; ok && i < 100; i++) {
            char src[300], dst[300];
            snprintf(src, sizeof src, "%s/%s/%04d.png", from, classes[c], i);
            snprintf(dst, sizeof dst, "%s/%s/%04d.png", to, classes[c], i);
            clcnn_image im = {0}, wide = {0};
            if (clcnn_image_load(tmptree_path(t, src), &im) != CLCNN_OK) break; /* no more in this class */
            ok = clcnn_image_resize(&im, 64, 32, &wide) == CLCNN_OK &&
                 clcnn_image_save_png(tmptree_path(t, dst), &wide) == CLCNN_OK;
            clcnn_image_free(&im), clcnn_image_free(&wide);
            n += ok;
        }
    }
    CHECK(ok && n > 0, "cannot make wide copies of %s (%d made)", from, n);
    return ok && n > 0;
}

static void test_tool_eval_options_reach(void) {
    if (!tmptree_build_dir()) return test_skip("CLCNN_TEST_BUILD is not set (run through make test)");
    tmptree t;
    if (!trained_model(&t, "eval_opts")) goto done;
    char args[600];
    const char *r = t.root;
    snprintf(args, sizeof args, "eval --data %s/data/val --weights %s/run/last.safetensors --json --batch 3", r, r);
    char *progress = tool_output(&t, 1, args), *base = tool_output(&t, 0, args);
    CHECK(progress && strstr(progress, " 3/8 ") && strstr(progress, " 6/8 "), "--batch 3: batches of 3 not seen in %s",
          progress ? progress : "");
    snprintf(args, sizeof args, "eval --data %s/data/val --weights %s/run/last.safetensors --json --batch 1 --threads 1",
             r, r);
    char *one = tool_output(&t, 0, args);
    CHECK(base && one && !strcmp(base, one), "--batch 1 --threads 1 changed the metrics:\n%s\n%s", base ? base : "",
          one ? one : "");
    snprintf(args, sizeof args, "eval --data %s/data/val --weights %s/run/last.safetensors --json --size 48", r, r);
    char *larger = tool_output(&t, 0, args);
    CHECK(base && larger && strcmp(base, larger), "--size 48 left the metrics as they were");
    free(larger);
    /* --fit: on wide pictures (every fit gives a square picture the same input) */
    if (wide_copies(&t, "data/val", "data/wide")) {
        char *fits[2];
        for (int i = 0; i < 2; i++) {
            snprintf(args, sizeof args, "eval --data %s/data/wide --weights %s/run/last.safetensors --json --fit %s",
                     r, r, i ? "pad" : "crop");
            fits[i] = tool_output(&t, 0, args);
        }
        CHECK(fits[0] && fits[1] && strcmp(fits[0], fits[1]), "--fit pad gave --fit crop's metrics on wide pictures");
        free(fits[0]), free(fits[1]);
    }
    free(progress), free(base), free(one);
done:
    tmptree_close(&t);
}

static void test_tool_predict_options_reach(void) {
    if (!tmptree_build_dir()) return test_skip("CLCNN_TEST_BUILD is not set (run through make test)");
    tmptree t;
    if (!trained_model(&t, "predict_opts")) goto done;
    char args[600];
    const char *r = t.root;
    snprintf(args, sizeof args, "predict --weights %s/run/last.safetensors --top 1 %s/data/val/intact", r, r);
    char *top1 = tool_output(&t, 0, args);
    snprintf(args, sizeof args, "predict --weights %s/run/last.safetensors --top 1 --batch 1 %s/data/val/intact", r, r);
    char *batch1 = tool_output(&t, 0, args);
    snprintf(args, sizeof args, "predict --weights %s/run/last.safetensors --top 2 %s/data/val/intact", r, r);
    char *top2 = tool_output(&t, 0, args);
    CHECK(top1 && !strstr(top1, "(top"), "--top 1 still lists other classes:\n%s", top1 ? top1 : "");
    CHECK(top2 && strstr(top2, "(top 2: "), "--top 2 lists no two classes:\n%s", top2 ? top2 : "");
    CHECK(top1 && batch1 && !strcmp(top1, batch1), "--batch 1 changed the predictions:\n%s\n%s", top1 ? top1 : "",
          batch1 ? batch1 : "");
    free(top1), free(batch1), free(top2);
done:
    tmptree_close(&t);
}

static int occurrences(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s ? strstr(s, needle) : NULL; p; p = strstr(p + 1, needle)) n++;
    return n;
}

/* The share of pixels of picture a equal to b's, both loaded from ROOT. */
static double same_pixels(const tmptree *t, const char *a, const char *b) {
    clcnn_image x = {0}, y = {0};
    CHECK_OK(clcnn_image_load(tmptree_path(t, a), &x));
    CHECK_OK(clcnn_image_load(tmptree_path(t, b), &y));
    size_t same = 0, n = (size_t)x.width * x.height * 3;
    if (x.pixels && y.pixels && x.width == y.width && x.height == y.height)
        for (size_t i = 0; i < n; i++) same += x.pixels[i] == y.pixels[i];
    clcnn_image_free(&x), clcnn_image_free(&y);
    return n ? (double)same / n : 0;
}

static void test_tool_cam_options_reach(void) {
    if (!tmptree_build_dir()) return test_skip("CLCNN_TEST_BUILD is not set (run through make test)");
    tmptree t;
    if (!trained_model(&t, "cam_opts")) goto done;
    char args[700];
    const char *r = t.root, *picture = "big.png";
    clcnn_image small = {0}, big = {0}; /* large enough that the caption covers little of it */
    CHECK_OK(clcnn_image_load(tmptree_path(&t, "data/val/intact/0000.png"), &small));
    CHECK_OK(clcnn_image_resize(&small, 160, 160, &big));
    CHECK_OK(clcnn_image_save_png(tmptree_path(&t, picture), &big));
    clcnn_image_free(&small), clcnn_image_free(&big);
    /* --alpha 0: the overlay is the picture (the caption aside); 1: the heatmap */
    snprintf(args, sizeof args, "cam --weights %s/run/last.safetensors --alpha 0 --threshold 0 --max-boxes 0 --json "
             "--out %s/a0 %s/%s", r, r, r, picture);
    char *json0 = tool_output(&t, 0, args);
    const double alpha0 = same_pixels(&t, "a0/big_overlay.png", picture);
    CHECK(json0 && strstr(json0, "\"threshold\": 0.0,") && strstr(json0, "\"boxes\": []") && alpha0 > 0.6,
          "--alpha 0 --threshold 0 --max-boxes 0: %.2f of the overlay is the picture; cam.json %s", alpha0,
          json0 ? json0 : "");
    snprintf(args, sizeof args, "cam --weights %s/run/last.safetensors --alpha 1 --threshold 0.5 --max-boxes 1 --class 1 "
             "--method layercam --layer layer3 --json --out %s/a1 %s/%s", r, r, r, picture);
    char *json1 = tool_output(&t, 0, args);
    const double alpha1 = same_pixels(&t, "a1/big_overlay.png", "a1/big_heat.png");
    CHECK(json1 && strstr(json1, "\"threshold\": 0.5,") && strstr(json1, "\"class\": 1,") &&
              strstr(json1, "\"method\": \"layercam\"") && strstr(json1, "\"layer\": \"layer3\"") && alpha1 > 0.6,
          "--alpha 1 ...: %.2f of the overlay is the heatmap; cam.json %s", alpha1, json1 ? json1 : "");
    /* the map's maximum is always at or above half of it: one box, and only one */
    CHECK(occurrences(json1, "\"x0\"") == 1, "--max-boxes 1: %d boxes in %s", occurrences(json1, "\"x0\""),
          json1 ? json1 : "");
    free(json0), free(json1);
done:
    tmptree_close(&t);
}

const test_case test_tool_options_cases[] = {
    {"tool_eval_options_reach", test_tool_eval_options_reach},
    {"tool_predict_options_reach", test_tool_predict_options_reach},
    {"tool_cam_options_reach", test_tool_cam_options_reach},
    {NULL, NULL},
};
