#!/bin/sh
# run_lycoris_tucker.sh — `loratty --run` with LyCORIS' Tucker factors (use_tucker / use_cp) on
# the tiny SD1 checkpoint (two demo images at 32x32, 2 steps, a save after each step):
#  1. LoCon and LoHa with use_tucker, LoKr with use_cp: each run exits 0, passes the flag in
#     ss_network_args, saves LyCORIS' Tucker keys (lora_mid on the 3x3 convolutions and none on
#     the 1x1 ones; hada_t1 / hada_t2; lokr_t2) with LyCORIS' shapes, and every trained tensor
#     moved between the step-1 save and the last;
#  2. each: 1 step + save_state + resume to 2 equals 2 straight, bit for bit;
#  3. LoKr as kohya_ss passes it, use_tucker=true beside use_cp=false: no Tucker factors (LyCORIS
#     reads use_cp first) and a warning saying so;
#  4. a kohya_ss config like its "sd15 - LoKr v1.1" preset (LyCORIS/LoKr, use_cp true,
#     use_tucker false, factor 6, decompose_both, rank_dropout_scale; conv_dim 2 so W2 is
#     low-rank) imports with --import and trains lokr_t2.
top=${top_srcdir:-.}
src=$(cd "$top" && pwd)
prog=${LORATTY:-${top_builddir:-.}/loratty}
files=${top_builddir:-.}/tests/test_train_run_files
lora_diff=${top_builddir:-.}/tests/lora_diff
tmp=$(mktemp -d "${TMPDIR:-/tmp}/loratty-tucker.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export XDG_STATE_HOME="$tmp/state" OMP_NUM_THREADS=1
fail() { echo "FAIL: $*"; exit 1; }

mkdir -p "$tmp/model" "$tmp/img/2_zqx ring" "$tmp/out"
. "$src/tests/tiny_run_lib.sh"
tiny_sd1_model "$tmp/model"
tiny_images "$tmp/img/2_zqx ring" 2

# preset NAME STEPS LORA_TYPE [extra [loratty] lines] [extra [advanced] lines]
preset() {
    cat > "$tmp/$1.toml" <<EOF
[model]
pretrained_model_name_or_path = "$tmp/model/model.safetensors"
train_data_dir = "$tmp/img"
output_name = "$1"
save_precision = "float"

[folders]
output_dir = "$tmp/out"

[basic]
train_batch_size = 2
max_train_steps = $2
resolution = "32,32"
enable_bucket = false
learning_rate = 0.001
unet_lr = 0.001
text_encoder_lr = 0.0005
network_dim = 4
network_alpha = 2.0
optimizer_type = "AdamW"
lr_scheduler = "constant"
seed = 7
cache_latents = true

[advanced]
save_every_n_steps = 1
$5

[loratty]
lr_warmup = 0
lora_type = "$3"
conv_dim = 2
conv_alpha = 1.0
$4
EOF
}

run() {
    "$prog" --run "$tmp/$1.toml" > "$tmp/$1.out" 2>&1
    rc=$?
}

# tucker NAME LORA_TYPE ALGO FLAG "KIND..." CORE: a 2-step run with FLAG = true, its keys and
# what moved; CORE is the Tucker key that must sit on the 3x3 convolutions
tucker() {
    name=$1
    preset "$1" 2 "$2" "$4 = true"
    run "$1"
    [ "$rc" -eq 0 ] || { cat "$tmp/$1.out"; fail "$2 with $4: run exited $rc"; }
    "$prog" --inspect "$tmp/out/$1.safetensors" > "$tmp/$1.inspect" 2>&1 ||
        { cat "$tmp/$1.inspect"; fail "--inspect $1"; }
    grep -q "^  ss_network_args .*\"algo\": \"$3\".*\"$4\": \"true\"" "$tmp/$1.inspect" ||
        { grep ss_network_args "$tmp/$1.inspect"; fail "$2: ss_network_args lacks $4"; }
    grep -q "mid_block_resnets_0_conv1\.$6 " "$tmp/$1.inspect" ||
        { grep mid_block_resnets_0_conv1 "$tmp/$1.inspect"; fail "$2: no $6 on the 3x3 convolutions"; }
    ! grep -q "\(proj_in\|conv_shortcut\|lora_te_.*\)\.$6 " "$tmp/$1.inspect" ||
        fail "$2: $6 on a 1x1 convolution or a Linear"
    "$lora_diff" "$tmp/out/$1-step00000001.safetensors" "$tmp/out/$1.safetensors" > "$tmp/diff" ||
        { cat "$tmp/diff"; fail "$1: lora_diff"; }
    for k in $5; do
        line=$(grep "^$k " "$tmp/diff") || { cat "$tmp/diff"; fail "$1: no $k tensors"; }
        set -- $line
        [ "${2%/*}" -eq "${2#*/}" ] && [ "${2#*/}" -gt 0 ] || fail "$1: ${2%/*} of ${2#*/} $k tensors moved"
    done
    echo "ok    $name: moved $(cut -d' ' -f1,2 "$tmp/diff" | tr '\n' ' ')"
}

# resumed NAME LORA_TYPE FLAG: 1 step + save_state, resume to 2: equal to NAME's 2-step file
resumed() {
    preset "$1res" 1 "$2" "$3 = true" "save_state_on_train_end = true"
    run "$1res"
    [ "$rc" -eq 0 ] || { cat "$tmp/$1res.out"; fail "$2 1-step run exited $rc"; }
    preset "$1res" 2 "$2" "$3 = true" "resume = \"$tmp/out/$1res-state\""
    run "$1res"
    [ "$rc" -eq 0 ] && grep -q "resumed from" "$tmp/$1res.out" ||
        { cat "$tmp/$1res.out"; fail "resumed $2 run: exit $rc"; }
    "$files" same "$tmp/out/$1.safetensors" "$tmp/out/$1res.safetensors" ||
        fail "$2: 1 step + resume differs from 2 steps straight"
    echo "ok    $2 with $3: 1 step + save_state + resume = 2 steps, bit for bit"
}

# --- 1. and 2. --------------------------------------------------------------------------------------
tucker locon "LyCORIS/LoCon" locon use_tucker "lora_down lora_mid lora_up" lora_mid.weight
grep -q "down_blocks_0_resnets_0_conv1\.lora_mid\.weight .*\[2, 2, 3, 3\]" "$tmp/locon.inspect" &&
    grep -q "down_blocks_0_resnets_0_conv1\.lora_down\.weight .*\[2, 16, 1, 1\]" "$tmp/locon.inspect" ||
    { grep resnets_0_conv1 "$tmp/locon.inspect"; fail "LoCon: lora_mid / lora_down shapes differ from LyCORIS'"; }
tucker loha "LyCORIS/LoHa" loha use_tucker "hada_w1_a hada_w1_b hada_w2_a hada_w2_b hada_t1 hada_t2" hada_t1
tucker lokr "LyCORIS/LoKr" lokr use_cp "lokr_w2_a lokr_t2" lokr_t2
resumed locon "LyCORIS/LoCon" use_tucker
resumed loha "LyCORIS/LoHa" use_tucker
resumed lokr "LyCORIS/LoKr" use_cp

# --- 3. kohya_ss's LoKr: use_cp=false beside use_tucker=true ----------------------------------------
preset lokrcp 1 "LyCORIS/LoKr" "use_tucker = true"
run lokrcp
[ "$rc" -eq 0 ] && grep -q "warning.*use_tucker has no effect with LyCORIS/lokr" "$tmp/lokrcp.out" ||
    { cat "$tmp/lokrcp.out"; fail "LoKr with use_tucker and use_cp false: exit $rc, want 0 and a warning"; }
"$prog" --inspect "$tmp/out/lokrcp.safetensors" > "$tmp/lokrcp.inspect" 2>&1 || fail "--inspect lokrcp"
grep -q '"use_cp": "false"' "$tmp/lokrcp.inspect" && ! grep -q "lokr_t2" "$tmp/lokrcp.inspect" ||
    { grep "ss_network_args\|lokr_t2" "$tmp/lokrcp.inspect"; fail "LoKr: use_cp=false should be passed and win"; }
echo "ok    LoKr: use_cp=false (as kohya_ss passes it) wins over use_tucker=true, with a warning"

# --- 4. a kohya_ss "sd15 - LoKr v1.1"-style config imports and trains -------------------------------
cat > "$tmp/kohya.json" <<EOF
{
    "LoRA_type": "LyCORIS/LoKr",
    "LyCORIS_preset": "full",
    "pretrained_model_name_or_path": "$tmp/model/model.safetensors",
    "train_data_dir": "$tmp/img",
    "output_dir": "$tmp/out",
    "output_name": "kohya",
    "conv_alpha": 1,
    "conv_dim": 2,
    "decompose_both": true,
    "factor": 6,
    "network_alpha": 1,
    "network_dim": 4,
    "rank_dropout_scale": true,
    "train_on_input": true,
    "use_cp": true,
    "use_scalar": false,
    "use_tucker": false
}
EOF
"$prog" --import "$tmp/kohya.json" -o "$tmp/kohya.toml" > "$tmp/import.out" 2>&1 ||
    { cat "$tmp/import.out"; fail "--import of the LoKr config"; }
grep -q "^use_cp = true" "$tmp/kohya.toml" || { cat "$tmp/kohya.toml"; fail "import: use_cp lost"; }
"$prog" --run "$tmp/kohya.toml" --set max_train_steps=1 --set resolution=32,32 --set enable_bucket=false \
    --set train_batch_size=2 --set save_precision=float --set cache_latents=true > "$tmp/kohya.out" 2>&1 ||
    { cat "$tmp/kohya.out"; fail "the imported LoKr config did not train"; }
"$prog" --inspect "$tmp/out/kohya.safetensors" > "$tmp/kohya.inspect" 2>&1 || fail "--inspect kohya"
grep -q "mid_block_resnets_0_conv1\.lokr_t2 " "$tmp/kohya.inspect" && grep -q '"factor": "6"' "$tmp/kohya.inspect" ||
    { grep "ss_network_args\|resnets_0_conv1" "$tmp/kohya.inspect"; fail "the imported LoKr has no lokr_t2"; }
echo "ok    a kohya_ss LoKr config (use_cp true) imports and trains lokr_t2"
echo "all passed"
