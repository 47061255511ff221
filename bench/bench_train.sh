#!/bin/sh
# bench_train.sh — LoRA training speed: `loratty --run` against the PyTorch + diffusers reference
# loop (bench/bench_train_torch.py), same machine, same run, same shapes, batch, steps, rank,
# optimizer (AdamW) and thread count. Not part of make check (`make bench-train` runs it).
#
# Configs: "tiny" = the SD1 test checkpoint (tests/fixtures/checkpoint-sd1, U-Net widths 16/32);
# "wide" = the same U-Net at widths 64/128 (a diffusers folder written by bench_train_torch.py
# with random weights). Both train a default LoRA on the U-Net only (text encoder outputs are
# cached, as are latents), 64x64 images (32x32 latents: the tiny VAE downsamples by 2).
#
# samples/s counts the training steps only: loratty's from the timestamps of its progress
# events (step 1 → last step), PyTorch's from its loop after step 1. Peak RSS is the whole
# process (getrusage of the child). Exit 77 (skipped) without the Python venv.
#
# Env: LORATTY (./loratty), LORATTY_BENCH_PYTHON (/work/golden-venv/bin/python),
#      BENCH_THREADS (2), BENCH_STEPS (50 tiny, 30 wide), BENCH_BATCH (4), BENCH_DIM (8),
#      BENCH_RES (64), BENCH_CONFIGS ("tiny wide").
top=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
src=$(cd "$top" && pwd)
prog=${LORATTY:-./loratty}
py=${LORATTY_BENCH_PYTHON:-/work/golden-venv/bin/python}
if [ ! -x "$py" ] || ! "$py" -c 'import torch, diffusers, transformers' 2>/dev/null; then
    echo "bench-train: skipped (no Python with torch+diffusers at $py; set LORATTY_BENCH_PYTHON)"
    exit 77
fi
[ -x "$prog" ] || { echo "bench-train: no loratty binary at $prog (set LORATTY)"; exit 1; }
threads=${BENCH_THREADS:-2}
batch=${BENCH_BATCH:-4}
dim=${BENCH_DIM:-8}
res=${BENCH_RES:-64}
configs=${BENCH_CONFIGS:-tiny wide}
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
tool="$src/bench/bench_train_torch.py"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/loratty-bench-train.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export XDG_STATE_HOME="$tmp/state"

# 100 repeats of 4 images: one epoch holds every run, so no epoch save lands inside the timing
mkdir -p "$tmp/img/100_zqx"
for i in 01 02 03 04; do
    cp "$src/share/demo/img/10_zqx/zqx_$i.png" "$src/share/demo/img/10_zqx/zqx_$i.txt" "$tmp/img/100_zqx/"
done

# loratty NAME MODEL STEPS → JSON lines (measure, then the step timing from events.jsonl)
run_loratty() {
    cat > "$tmp/$1.toml" <<EOF
[model]
pretrained_model_name_or_path = "$2"
train_data_dir = "$tmp/img"
output_name = "$1"

[folders]
output_dir = "$tmp/out"

[basic]
train_batch_size = $batch
max_train_steps = $3
resolution = "$res,$res"
enable_bucket = false
learning_rate = 0.0001
unet_lr = 0.0001
network_dim = $dim
network_alpha = 4.0
network_train_unet_only = true
optimizer_type = "AdamW"
lr_scheduler = "constant"
seed = 7
cache_latents = true

[loratty]
lr_warmup = 0
EOF
    "$py" "$tool" measure -- "$prog" --run "$tmp/$1.toml" > "$tmp/$1.out" 2>&1
    tail -1 "$tmp/$1.out" > "$tmp/$1.measure"
    grep -q '"rc": 0' "$tmp/$1.measure" || { cat "$tmp/$1.out"; echo "bench-train: loratty failed"; exit 1; }
    "$py" - "$tmp"/state/loratty/runs/*-"$1"/events.jsonl "$batch" > "$tmp/$1.loop" <<'EOF'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
pr = [e for e in ev if e["type"] == "progress"]
a, b = pr[0], pr[-1]
n = b["step"] - a["step"]
dt = b["t"] - a["t"]
print(json.dumps({"loop_s": round(dt, 3), "timed_steps": n, "samples_per_s": round(int(sys.argv[2]) * n / dt, 3)}))
EOF
}

run_torch() {   # NAME UNET_CONFIG STEPS
    "$py" "$tool" measure -- "$py" "$tool" train --unet-config "$2" --res "$res" --batch "$batch" \
        --steps "$3" --dim "$dim" --alpha 4 --lr 1e-4 --threads "$threads" > "$tmp/$1.out" 2>&1
    tail -1 "$tmp/$1.out" > "$tmp/$1.measure"
    grep -q '"rc": 0' "$tmp/$1.measure" || { cat "$tmp/$1.out"; echo "bench-train: PyTorch failed"; exit 1; }
    grep '"loop_s"' "$tmp/$1.out" | tail -1 > "$tmp/$1.loop"
}

get() { "$py" -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

echo "bench-train: $(nproc 2>/dev/null || echo ?) cores, threads $threads, batch $batch, LoRA dim $dim, ${res}x$res, AdamW"
printf '%-6s %5s  %-8s %10s %10s %10s %10s\n' config steps program samples/s loop_s wall_s peak_MiB
for c in $configs; do
    case $c in
    tiny)
        steps=${BENCH_STEPS:-50}
        mkdir -p "$tmp/tiny"
        cp "$src/tests/fixtures/checkpoint-sd1/model.safetensors" "$tmp/tiny/"
        for d in unet vae text_encoder tokenizer scheduler; do
            cp -R "$src/tests/fixtures/pipeline-sd1/$d" "$tmp/tiny/"
        done
        model="$tmp/tiny/model.safetensors" ;;
    wide)
        steps=${BENCH_STEPS:-30}
        "$py" "$tool" make-model "$tmp/wide" --width 64 --src "$src/tests/fixtures/pipeline-sd1" \
            > "$tmp/make-wide.out" 2>&1 || { cat "$tmp/make-wide.out"; exit 1; }
        model="$tmp/wide" ;;
    *) echo "bench-train: unknown config $c"; exit 1 ;;
    esac
    run_loratty "lt-$c" "$model" "$steps"
    run_torch "pt-$c" "$tmp/$c/unet/config.json" "$steps"
    for p in lt pt; do
        name=loratty; [ $p = pt ] && name=pytorch
        printf '%-6s %5s  %-8s %10s %10s %10s %10s\n' "$c" "$steps" "$name" \
            "$(get "$tmp/$p-$c.loop" samples_per_s)" "$(get "$tmp/$p-$c.loop" loop_s)" \
            "$(get "$tmp/$p-$c.measure" wall_s)" "$(get "$tmp/$p-$c.measure" peak_rss_mib)"
    done
    "$py" -c "import json,sys; a,b=(json.load(open(f)) for f in sys.argv[1:3]); c,d=(json.load(open(f)) for f in sys.argv[3:5]); \
print('%-6s ratio loratty/pytorch: samples/s %.2fx, peak RSS %.2fx' % (sys.argv[5], a['samples_per_s']/b['samples_per_s'], c['peak_rss_mib']/d['peak_rss_mib']))" \
        "$tmp/lt-$c.loop" "$tmp/pt-$c.loop" "$tmp/lt-$c.measure" "$tmp/pt-$c.measure" "$c"
done
