#!/bin/sh
# demo.sh: what `make demo` runs. A synthetic two-class data set (damaged/intact
# pictures; the damage is a small checkered patch at a recorded place), the compact
# residual net trained on it on the default device, its validation metrics, and
# Grad-CAM heatmaps of a few validation pictures. Results go to $DEMO_DIR.
set -eu
BUILD=${BUILD:-build}
DIR=${DEMO_DIR:-demo-output}
EPOCHS=${DEMO_EPOCHS:-6}
CLCNN="./$BUILD/clcnn"

echo "== devices"
$CLCNN devices
if [ -e "$DIR/run/last.safetensors" ]; then
    echo "demo.sh: $DIR already holds a demo run; remove it (rm -r $DIR) or set DEMO_DIR" >&2
    exit 1
fi
echo "== data: $DIR/data"
"./$BUILD/make_synthetic" "$DIR/data" --train 600 --val 200 --size 96 --seed 1
# --crop-scale 1: random crops could cut the patch out of a "damaged" picture.
echo "== train: compact residual net, $EPOCHS epochs"
$CLCNN train --data "$DIR/data/train" --val "$DIR/data/val" --arch compact --size 96 \
    --epochs "$EPOCHS" --batch 32 --optimizer adamw --lr 0.003 --vflip --crop-scale 1 --seed 1 --out "$DIR/run"
echo "== eval: best model on the validation pictures"
$CLCNN eval --data "$DIR/data/val" --weights "$DIR/run/best.safetensors"
echo "== cam: Grad-CAM of six validation pictures"
$CLCNN cam --weights "$DIR/run/best.safetensors" --method gradcam --out "$DIR/cam" \
    "$DIR"/data/val/damaged/000[0-3].png "$DIR"/data/val/intact/000[0-1].png
echo
echo "results:"
echo "  model            $DIR/run/best.safetensors (and last.safetensors)"
echo "  metrics, curves  $DIR/run/metrics.csv, metrics.json, curves.png"
echo "  heatmaps         $DIR/cam/*_overlay.png, *_heat.png, *_cam.npy, cam.json"
echo "  true patch boxes $DIR/data/boxes.csv"
