#!/usr/bin/env python3
"""isa_report.py: every kernel of cl/, built with the options the library passes on a GPU,
compiled offline for real GPU instruction sets; registers, spills, stack and occupancy.

    scripts/isa_report.py [--build build] [--out build/isa] [--doc docs/GPU.md] [--jobs N]
    scripts/isa_report.py --verify N   (recompile N entries of the report; 1 if any differ)

Steps (`make isa-report` runs them):
 1. Which programs the GPU row builds: the library logs every program it makes, with its
    options exactly as the driver gets them, to CLCNN_BUILD_LOG. With CLCNN_DEVICE_CLASS=gpu
    (the GPU family of kernels and parameters on whatever device runs it, PoCL here) this
    runs the op tests (small shapes, without test_tiles.c, which forces every GEMM tile),
    two of them again with the fallback GEMM (gemm_tiled, CLCNN_GEMM_LOCAL=off) and with
    each vendor row (CLCNN_GPU_ROW),
    clbench's inference, training step and Grad-CAM of two networks (with the numerics
    checks on) and clbench peak. Each kernel is reported for the builds it was made from;
    a kernel file that none of them builds is compiled with the base options, marked
    "seen": false.
 2. Each (file, options) pair, as BUILD/gen/defines.cl (the codes made from
    include/clcnn.h's lists), cl/common.cl and the file (as the library
    builds it), is compiled for:
      sm_90:   clang-15 -target nvptx64-nvidia-nvcl -emit-llvm, llvm-link-15 with libclc's
               nvptx64--nvidiacl.bc, opt-15 -O3, llc-15 -mcpu=sm_86 -mattr=+ptx75 (LLVM 15's
               newest), then the CUDA toolkit's ptxas -arch=sm_90 -v;
      gfx90a, gfx1100: clang-15 -target amdgcn-amd-amdhsa -nogpulib -mcpu=GFX, llvm-link-15
               with amdgcn--amdhsa.bc, opt-15 -O3, llc-15 -mcpu=GFX; the assembly's kernel
               comments give NumVgprs, ScratchSize, LDSByteSize and Occupancy (waves per SIMD).
 3. OUT/report.json: a list of {kernel, file, target, options, registers, spill_bytes,
    stack_bytes, local_bytes, occupancy, seen}; OUT/report.md: one row per kernel with
    the worst figures over its option sets; DOC's section between the isa-report markers
    is replaced by that table.

Missing tools skip what needs them with a message: no clang-15 (or llvm-15, libclc-15)
skips everything, no ptxas skips sm_90. Exit status 1 when a kernel of cl/ has no entry
for a target that ran, or when the collection run failed."""
import argparse
import concurrent.futures
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBCLC = "/usr/lib/clc"
BASE_OPTIONS = "-cl-std=CL1.2 -w"
AMD_TARGETS = ["gfx90a", "gfx1100"]
DEFINES = os.path.join(ROOT, "build", "gen", "defines.cl")  # main() takes it from --build
GPU_ROWS = ["nvidia", "amd", "intel"]  # besides "default", which every other run uses (whatever PoCL's vendor)
MARK_BEGIN = "<!-- isa-report begin (make isa-report writes this table) -->"
MARK_END = "<!-- isa-report end -->"


def find_ptxas():
    for p in [shutil.which("ptxas"), "/usr/local/cuda/bin/ptxas"] + sorted(glob.glob("/usr/local/cuda-*/bin/ptxas")):
        if p and os.access(p, os.X_OK):
            return p
    return None


def kernels_of(path):
    with open(path) as f:
        return re.findall(r"__kernel\s+void\s+(\w+)\s*\(", f.read())


def collect(build, log_path):
    """Run the GPU row's code paths with CLCNN_BUILD_LOG; the distinct (file, options)."""
    if os.path.exists(log_path):
        os.remove(log_path)
    env = dict(os.environ, CLCNN_DEVICE_CLASS="gpu", CLCNN_GPU_ROW="default", CLCNN_BUILD_LOG=log_path,
               CLCNN_TUNE="off", CLCNN_TEST_SMALL="1", CLCNN_GEMM_TILE="", CLCNN_CHECK_NUMERICS="1")
    tests = subprocess.run(["sh", os.path.join(ROOT, "scripts/op_tests.sh"), "--no-tiles"], capture_output=True,
                           text=True, check=True).stdout.split()
    runs = [[os.path.join(build, "clcnn_tests")] + tests,
            # the GPU row's fallback GEMM, for devices that cannot run gemm_local
            ["env", "CLCNN_GEMM_LOCAL=off", os.path.join(build, "clcnn_tests"), "=op_gemm", "=op_conv2d_1x1"]]
    for row in GPU_ROWS:  # each vendor row's GEMM (src/runtime/gpu_rows.c)
        runs.append(["env", "CLCNN_GPU_ROW=" + row, os.path.join(build, "clcnn_tests"), "=op_gemm", "=op_conv2d_1x1"])
    for arch, size in (("seresnet18", 64), ("resnet50", 64)):
        for mode in ("infer", "train", "cam"):
            runs.append([os.path.join(build, "clbench"), "model", "--arch", arch, "--size", str(size), "--batch", "2",
                         "--mode", mode, "--iters", "1"])
    runs.append([os.path.join(build, "clbench"), "peak"])
    ok = True
    for cmd in runs:
        print("isa_report: collecting: " + " ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c
                                                    for c in cmd[:6]) + (" ..." if len(cmd) > 6 else ""), flush=True)
        r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            ok = False
            tail = (r.stdout + r.stderr).strip().splitlines()[-5:]
            print("isa_report: that run failed (%d):\n  %s" % (r.returncode, "\n  ".join(tail)))
    used = {}  # (file, options) -> the kernels made from that build
    if os.path.exists(log_path):
        with open(log_path) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 3:
                    used.setdefault((parts[0], parts[1].strip()), set()).add(parts[2])
    return used, ok


def run(cmd, cwd):
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s failed:\n%s" % (cmd[0], (r.stderr or r.stdout)[-1500:]))
    return r.stdout + r.stderr


def to_llvm(src, options, target_args, libclc_bc, tmp):
    bc, linked, opt = (os.path.join(tmp, n) for n in ("k.bc", "linked.bc", "opt.bc"))
    run(["clang-15", "-x", "cl"] + options.split() + ["-fgnu89-inline", "-Xclang", "-finclude-default-header",
                                                      "-emit-llvm", "-c", "-O2"] + target_args + ["-o", bc, src], tmp)
    run(["llvm-link-15", bc, os.path.join(LIBCLC, libclc_bc), "-o", linked], tmp)
    run(["opt-15", "-O3", linked, "-o", opt], tmp)
    return opt


def start_kernel(match, result, current):
    """A compiler's report starts a kernel where match (of its name) is: its figures, zero."""
    if not match:
        return current
    result[match.group(1)] = {"registers": 0, "spill_bytes": 0, "stack_bytes": 0, "local_bytes": 0,
                              "occupancy": None}
    return match.group(1)


def compile_sm90(src, options, ptxas, tmp):
    opt = to_llvm(src, options, ["-target", "nvptx64-nvidia-nvcl"], "nvptx64--nvidiacl.bc", tmp)
    ptx = os.path.join(tmp, "k.ptx")
    run(["llc-15", "-O3", "-march=nvptx64", "-mcpu=sm_86", "-mattr=+ptx75", opt, "-o", ptx], tmp)
    out = run([ptxas, "-arch=sm_90", "-v", ptx, "-o", os.path.join(tmp, "k.cubin")], tmp)
    result, current, prev = {}, None, ""
    for line in out.splitlines():
        current = start_kernel(re.search(r"Compiling entry function '(\w+)'", line), result, current)
        if current is None or "Compiling entry" in line:
            prev = line
            continue
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m and "Function properties for " + current in prev:
            result[current]["stack_bytes"] = int(m.group(1))
            result[current]["spill_bytes"] = max(int(m.group(2)), int(m.group(3)))
        m = re.search(r"Used (\d+) registers", line)
        if m:
            result[current]["registers"] = int(m.group(1))
            s = re.search(r"(\d+) bytes smem", line)
            result[current]["local_bytes"] = int(s.group(1)) if s else 0
            current = None
        prev = line
    return result


def compile_amd(src, options, gfx, tmp):
    opt = to_llvm(src, options, ["-nogpulib", "-target", "amdgcn-amd-amdhsa", "-mcpu=" + gfx], "amdgcn--amdhsa.bc",
                  tmp)
    asm = os.path.join(tmp, "k.s")
    run(["llc-15", "-O3", "-march=amdgcn", "-mtriple=amdgcn-amd-amdhsa", "-mcpu=" + gfx, opt, "-o", asm], tmp)
    result, current = {}, None
    with open(asm) as f:
        for line in f:
            current = start_kernel(re.match(r"\s*\.amdhsa_kernel (\w+)", line), result, current)
            if current is None or ".amdhsa_kernel" in line:
                continue
            for key, pat in (("registers", r"; NumVgprs: (\d+)"), ("stack_bytes", r"; ScratchSize: (\d+)"),
                             ("local_bytes", r"; LDSByteSize: (\d+)"), ("occupancy", r"; Occupancy: (\d+)")):
                m = re.match(r"\s*" + pat, line)
                if m:
                    result[current][key] = int(m.group(1))
            if re.match(r"\s*; Occupancy:", line):
                current = None
    for r in result.values():  # AMD's scratch is its spills and private arrays together
        r["spill_bytes"] = r["stack_bytes"]
    return result


def compile_pair(pair, targets, ptxas):
    file, options = pair
    entries, errors = [], []
    with tempfile.TemporaryDirectory(prefix="clcnn_isa_") as tmp:
        src = os.path.join(tmp, "k.cl")
        with open(DEFINES) as d, open(os.path.join(ROOT, "cl/common.cl")) as a, \
                open(os.path.join(ROOT, "cl", file)) as b, open(src, "w") as out:
            out.write(d.read() + "\n" + a.read() + "\n" + b.read())
        for target in targets:
            try:
                per_kernel = compile_sm90(src, options, ptxas, tmp) if target == "sm_90" else \
                    compile_amd(src, options, target, tmp)
            except RuntimeError as e:
                errors.append("cl/%s with \"%s\" for %s: %s" % (file, options, target, e))
                continue
            for kernel, figures in sorted(per_kernel.items()):
                entries.append(dict({"kernel": kernel, "file": "cl/" + file, "target": target, "options": options},
                                    **figures))
    return entries, errors


def markdown(entries, targets):
    """One row per kernel: the worst figures over its option sets, per target."""
    worst = {}
    for e in entries:
        w = worst.setdefault((e["file"], e["kernel"]), {}).setdefault(e["target"], dict(e, variants=0))
        w["variants"] += 1
        for key in ("registers", "spill_bytes", "stack_bytes", "local_bytes"):
            w[key] = max(w[key], e[key])
        if e["occupancy"] is not None:
            w["occupancy"] = e["occupancy"] if w["occupancy"] is None else min(w["occupancy"], e["occupancy"])
    head = "| kernel | file | builds |"
    rule = "|---|---|---:|"
    for t in targets:
        head += (" %s regs / spill / stack |" % t) if t == "sm_90" else (" %s VGPRs / scratch / occupancy |" % t)
        rule += "---|"
    lines = [head, rule]
    for (file, kernel), per in sorted(worst.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        builds = max(p["variants"] for p in per.values())
        made = any(p["seen"] for p in per.values())
        row = "| %s%s | %s | %s |" % (kernel, "" if made else " †", file, builds if made else "–")
        for t in targets:
            p = per.get(t)
            if not p:
                row += " – |"
            elif t == "sm_90":
                row += " %d / %d / %d |" % (p["registers"], p["spill_bytes"], p["stack_bytes"])
            else:
                row += " %d / %d / %s |" % (p["registers"], p["stack_bytes"],
                                            "–" if p["occupancy"] is None else p["occupancy"])
        lines.append(row)
    return "\n".join(lines) + "\n"


def update_doc(doc, table, note):
    with open(doc) as f:
        text = f.read()
    if MARK_BEGIN not in text or MARK_END not in text:
        print("isa_report: %s has no isa-report markers; table left in the report folder" % doc)
        return
    before, rest = text.split(MARK_BEGIN, 1)
    after = rest.split(MARK_END, 1)[1]
    with open(doc, "w") as f:
        f.write(before + MARK_BEGIN + "\n" + note + "\n" + table + MARK_END + after)


def verify(report, n, ptxas):
    """Recompile n entries (spread over the report) from their file, target and options alone."""
    with open(report) as f:
        entries = json.load(f)
    picked = entries[::max(1, len(entries) // n)][:n]
    bad = 0
    for e in picked:
        if e["target"] == "sm_90" and not ptxas:
            continue
        got, errors = compile_pair((e["file"][len("cl/"):], e["options"]), [e["target"]], ptxas)
        again = next((g for g in got if g["kernel"] == e["kernel"]), None)
        same = again and all(again[k] == e[k] for k in ("registers", "spill_bytes", "stack_bytes", "local_bytes",
                                                        "occupancy"))
        bad += not same
        print("isa_report: %s %s %s for %s with \"%s\": %s" % ("same" if same else "DIFFERENT", e["kernel"], e["file"],
                                                              e["target"], e["options"],
                                                              again if not same else e["registers"]))
        for err in errors:
            print("isa_report: " + err)
    print("isa_report: %d of %d entries recompiled to other figures" % (bad, len(picked)))
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--doc", default=os.path.join(ROOT, "docs/GPU.md"))
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--verify", type=int, metavar="N", default=0,
                    help="recompile N entries of OUT/report.json with the options they name and compare")
    args = ap.parse_args()
    global DEFINES
    DEFINES = os.path.join(args.build, "gen", "defines.cl")
    out = args.out or os.path.join(args.build, "isa")
    os.makedirs(out, exist_ok=True)

    if args.verify:
        return verify(os.path.join(out, "report.json"), args.verify, find_ptxas())
    missing = [t for t in ("clang-15", "llvm-link-15", "opt-15", "llc-15") if not shutil.which(t)]
    missing += [f for f in ("nvptx64--nvidiacl.bc", "amdgcn--amdhsa.bc") if not os.path.exists(os.path.join(LIBCLC, f))]
    if missing:
        print("isa_report: skipped: %s not found (Debian: apt-get install clang-15 llvm-15 libclc-15)"
              % ", ".join(missing))
        return 0
    ptxas = find_ptxas()
    targets = (["sm_90"] if ptxas else []) + AMD_TARGETS
    if not ptxas:
        print("isa_report: sm_90 skipped: no ptxas (the CUDA toolkit's) on PATH or in /usr/local/cuda*/bin")

    used, collected_ok = collect(args.build, os.path.join(out, "builds.tsv"))
    pairs = sorted(used)
    seen_files = {f for f, _ in pairs}
    cl_files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "cl/*.cl")))
    unseen = [f for f in cl_files if f != "common.cl" and f not in seen_files]
    print("isa_report: %d programs built by the GPU row; files compiled with the base options: %s"
          % (len(pairs), ", ".join(unseen) or "none"), flush=True)
    work = [(p, True) for p in pairs] + [((f, BASE_OPTIONS), False) for f in unseen]

    compiled, errors = [], []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {pool.submit(compile_pair, pair, targets, ptxas): (pair, seen) for pair, seen in work}
        for fut in concurrent.futures.as_completed(futures):
            (pair, seen) = futures[fut]
            got, errs = fut.result()
            for e in got:
                e["seen"] = seen and e["kernel"] in used[pair]
            compiled += got
            errors += errs
    compiled.sort(key=lambda e: (e["file"], e["kernel"], e["target"], e["options"]))
    # A build's other kernels (gemm_tiled in transpose's build) did not run from it: a
    # kernel is reported for the builds it was made from, or, if no run made it, for the
    # first build of its file ("seen": false).
    made = {(e["kernel"], e["target"]) for e in compiled if e["seen"]}
    entries, fallback = [], set()
    for e in compiled:
        key = (e["kernel"], e["target"])
        if e["seen"] or (key not in made and key not in fallback):
            entries.append(e)
            fallback.add(key)
    for e in errors:
        print("isa_report: compile error: " + e)

    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump(entries, f, indent=1)
    table = markdown(entries, targets)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(table)

    rc = 0 if collected_ok else 1
    for file in cl_files:
        if file == "common.cl":
            continue
        for kernel in kernels_of(os.path.join(ROOT, "cl", file)):
            for t in targets:
                if not any(e["kernel"] == kernel and e["target"] == t for e in entries):
                    print("isa_report: no %s entry for kernel %s (cl/%s)" % (t, kernel, file))
                    rc = 1
    over = sorted({(e["kernel"], e["target"]) for e in entries
                   if e["seen"] and (e["spill_bytes"] or e["stack_bytes"] or e["registers"] > 128)})
    note = ("Made by `make isa-report` (scripts/isa_report.py) from %d programs the GPU row builds; each row is the "
            "worst of the builds the kernel was made from (`builds`); † marks a kernel that no run of the GPU row made, "
            "compiled from the first build of its file. %d kernel/target pairs are over the budget of issue 24 "
            "(spills, a stack frame, or more than 128 registers).\n" % (len(pairs), len(over)))
    if os.path.exists(args.doc):
        update_doc(args.doc, table, note)
    print("isa_report: %d entries (%s) in %s/report.json; table in %s/report.md%s; %d kernel/target pairs over "
          "budget" % (len(entries), ", ".join(targets), os.path.relpath(out, ROOT), os.path.relpath(out, ROOT),
                      " and " + os.path.relpath(args.doc, ROOT) if os.path.exists(args.doc) else "", len(over)))
    return rc


if __name__ == "__main__":
    sys.exit(main())
