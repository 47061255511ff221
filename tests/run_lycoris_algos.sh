#!/bin/sh
# run_lycoris_algos.sh — `loratty --run` with LyCORIS' iA3, native fine-tuning (full), GLoRA,
# Diag-OFT, BOFT and DyLoRA on the tiny SD1 checkpoint (two demo images at 32x32, 2 steps, a
# save after each step):
#  1. each run exits 0 and saves a file with LyCORIS' keys for the algorithm (and none of
#     LoRA's), ss_network_module lycoris.kohya and "algo" in ss_network_args; between the
#     step-1 save and the last every trained tensor moved (iA3 weight, diff and diff_b, a1 / a2
#     / b1 / b2, oft_blocks and rescale) and the constant ones (alpha, on_input) did not;
#     DyLoRA (unit 2 of network_dim 4) saves LoRA keys and passes the unit as block_size;
#     LoCon with DoRA (dora_wd) saves and trains a dora_scale per module, with use_scalar the
#     same keys (the scalar folded in); train_norm (with
#     DyLoRA) trains w_norm / b_norm on the U-Net's norm layers;
#     iA3's train_on_input makes ff.net.2 / mlp.fc2 scale their input (on_input 1);
#  2. Diag-OFT with constrain and rescaled, DyLoRA, full, DoRA, use_scalar and DyLoRA with train_norm: 1 step +
#     save_state + resume to 2
#     equals 2 straight;
#  3. settings LyCORIS ignores for an algorithm are named in a warning (rank_dropout with
#     GLoRA, network_dropout with iA3, scale_weight_norms with DyLoRA); rank_dropout with full
#     is refused before training (exit 2, naming rank_dropout); bypass_mode trains the same
#     LoCon as without it, and is refused with rank_dropout.
top=${top_srcdir:-.}
src=$(cd "$top" && pwd)
prog=${LORATTY:-${top_builddir:-.}/loratty}
files=${top_builddir:-.}/tests/test_train_run_files
lora_diff=${top_builddir:-.}/tests/lora_diff
tmp=$(mktemp -d "${TMPDIR:-/tmp}/loratty-lycoris.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export XDG_STATE_HOME="$tmp/state" OMP_NUM_THREADS=1
fail() { echo "FAIL: $*"; exit 1; }

mkdir -p "$tmp/model" "$tmp/img/2_zqx ring" "$tmp/out"
. "$src/tests/tiny_run_lib.sh"
tiny_sd1_model "$tmp/model"
tiny_images "$tmp/img/2_zqx ring" 2

# preset NAME STEPS LORA_TYPE [extra [loratty] lines] [extra [advanced] lines] [extra [basic] lines]
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
network_dim = 4
network_alpha = 2.0
optimizer_type = "AdamW"
lr_scheduler = "constant"
seed = 7
cache_latents = true
$6

[advanced]
save_every_n_steps = 1
$5

[loratty]
lr_warmup = 0
lora_type = "$3"
$4
EOF
}

run() {
    "$prog" --run "$tmp/$1.toml" > "$tmp/$1.out" 2>&1
    rc=$?
}

# moved NAME KIND...: between NAME's step-1 save and its last file, every tensor of each KIND
# changed (all) — with a leading "=" none did, with a trailing ~N all but N did
moved() {
    name=$1
    shift
    "$lora_diff" "$tmp/out/$name-step00000001.safetensors" "$tmp/out/$name.safetensors" > "$tmp/diff" ||
        { cat "$tmp/diff"; fail "$name: lora_diff"; }
    for k in "$@"; do
        want=all still=0
        case $k in =*) want=none k=${k#=} ;; esac
        case $k in *~*) still=${k#*~} k=${k%~*} ;; esac
        line=$(grep "^$k " "$tmp/diff") || { cat "$tmp/diff"; fail "$name: no $k tensors"; }
        set -- $line
        changed=${2%/*} total=${2#*/}
        [ "$total" -gt 0 ] || fail "$name: no $k tensors"
        if [ $want = all ]; then
            [ "$changed" -eq $((total - still)) ] ||
                fail "$name: $changed of $total $k tensors moved, want $((total - still))"
        else
            [ "$changed" -eq 0 ] || fail "$name: $changed of $total $k tensors changed"
        fi
    done
    kinds=$(cut -d' ' -f1 "$tmp/diff" | tr '\n' ' ')
    echo "ok    $name: tensors $kinds"
}

te_lr="text_encoder_lr = 0.0005"
# algo NAME LORA_TYPE ALGO "KIND..." [extra [loratty] lines] [unet]: a 2-step run and its
# checks (unet: the U-Net only)
algo() {
    te=$te_lr
    [ "$6" = unet ] && te="network_train_unet_only = true"
    preset "$1" 2 "$2" "$5" "" "$te"
    run "$1"
    [ "$rc" -eq 0 ] || { cat "$tmp/$1.out"; fail "$2 run exited $rc"; }
    "$prog" --inspect "$tmp/out/$1.safetensors" > "$tmp/inspect" 2>&1 ||
        { cat "$tmp/inspect"; fail "--inspect $1"; }
    [ "$3" = dylora ] || [ "$3" = locon ] || ! grep -q "lora_down\|lora_up" "$tmp/inspect" ||
        fail "$2: the file has LoRA tensors"
    [ "$6" = unet ] || grep -q "lora_te_.*\." "$tmp/inspect" || fail "$2: no text encoder modules"
    grep -q "^  ss_network_module  *lycoris.kohya$" "$tmp/inspect" || fail "$2: ss_network_module"
    grep -q "^  ss_network_args .*\"algo\": \"$3\"" "$tmp/inspect" ||
        { grep ss_network_args "$tmp/inspect"; fail "$2: ss_network_args lacks algo=$3"; }
    moved "$1" $4
}

# --- 1. each algorithm trains and saves LyCORIS' keys --------------------------------------------
algo ia3 "LyCORIS/iA3" ia3 "weight =on_input"
grep -q "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_k\.weight " "$tmp/inspect" ||
    fail "iA3: no scale vector on to_k"
# train_on_input (on by default, as in kohya_ss) reaches the network: the feed-forward output
# layers scale their input, the keys and values their output
"$lora_diff" --values "$tmp/out/ia3.safetensors" on_input > "$tmp/onin" || fail "iA3 on_input values"
grep -q "_ff_net_2 1$" "$tmp/onin" && grep -q "_mlp_fc2 1$" "$tmp/onin" && grep -q "_to_k 0$" "$tmp/onin" &&
    ! grep -q "_ff_net_2 0$\|_mlp_fc2 0$\|_to_[kv] 1$\|_[kv]_proj 1$" "$tmp/onin" ||
    { cat "$tmp/onin"; fail "iA3: on_input is not 1 on ff.net.2 / mlp.fc2 and 0 on the keys / values"; }
algo full "LyCORIS/Native Fine-Tuning" full "diff diff_b" 'lycoris_preset = "attn-mlp"'
grep -q "attn1_to_q\.diff " "$tmp/inspect" && ! grep -q "attn1_to_q\.diff_b" "$tmp/inspect" ||
    fail "full: to_q (no bias) should have diff and no diff_b"
algo glora "LyCORIS/GLoRA" glora "a1 a2 b1 b2 =alpha" 'conv_dim = 2
conv_alpha = 1.0'
grep -q "resnets_0_conv1\.b2\.weight " "$tmp/inspect" || fail "GLoRA: no module on the 3x3 convolutions"
# 1x1 blocks (a layer of 37 or 4 outputs at network_dim 4: factorization gives block size 1)
# have Q = B − Bᵀ = 0 and never learn, in LyCORIS too: the tiny model has 6 of them
algo oft "LyCORIS/Diag-OFT" diag-oft "oft_blocks~6 rescale =alpha" 'conv_dim = 4
constrain = 0.001
rescaled = true'
"$files" meta "$tmp/out/oft.safetensors" ss_network_args='{"algo": "diag-oft", "preset": "full", "conv_dim": "4", "conv_alpha": "1", "constraint": "0.001", "rescaled": "true"}' ||
    fail "Diag-OFT: ss_network_args"
# BOFT cannot split the tiny CLIP's 37 MLP channels (LyCORIS refuses it too): the U-Net only
algo boft "LyCORIS/BOFT" boft "oft_blocks rescale =alpha" 'lycoris_preset = "full-lin"
constrain = 0.01
rescaled = true' unet
"$files" meta "$tmp/out/boft.safetensors" ss_network_args='{"algo": "boft", "preset": "full-lin", "conv_dim": "1", "conv_alpha": "1", "constraint": "0.01", "rescaled": "true"}' ||
    fail "BOFT: constraint / rescaled not passed"

# the convs need a rank that is a multiple of the unit too (kohya_ss's conv_dim default 1 is not)
# DoRA on LyCORIS' LoCon: dora_scale per module, trained
algo dora "LyCORIS/LoCon" locon "lora_down lora_up dora_scale =alpha" 'dora_wd = true
lycoris_preset = "attn-mlp"'
grep -q '"dora_wd": "true"' "$tmp/inspect" || { grep ss_network_args "$tmp/inspect"; fail "DoRA: dora_wd not passed"; }

# use_scalar: a trained scalar per module, folded into lora_up when saved (no key of its own)
algo scalar "LyCORIS/LoCon" locon "lora_down lora_up =alpha" 'use_scalar = true
lycoris_preset = "attn-mlp"'
! grep -q "\.scalar " "$tmp/inspect" || fail "use_scalar: a scalar key in the file"

dy_args='unit = 2
conv_dim = 4'
algo dylora "LyCORIS/DyLoRA" dylora "lora_down lora_up =alpha" "$dy_args"
grep -q '"block_size": "2"' "$tmp/inspect" && ! grep -q '"unit"' "$tmp/inspect" ||
    { grep ss_network_args "$tmp/inspect"; fail "DyLoRA: the unit is not passed as block_size"; }
# train_norm: the U-Net's GroupNorm / LayerNorm layers in the targeted modules train w_norm, b_norm
# (with DyLoRA, as kohya_ss's DyLoRA-Adafactor example config has it)
algo dylnorm "LyCORIS/DyLoRA" dylora "lora_down lora_up w_norm b_norm =alpha" "$dy_args
train_norm = true"
grep -q "lora_unet_down_blocks_0_resnets_0_norm1\.w_norm " "$tmp/inspect" &&
    grep -q "attentions_0_transformer_blocks_0_norm3\.b_norm " "$tmp/inspect" ||
    fail "train_norm: no w_norm / b_norm on the ResNet and transformer norms"

# --- 2. resume ------------------------------------------------------------------------------------
# resumed NAME LORA_TYPE ARGS: 1 step + save_state, resume to 2: equal to NAME's 2-step file
resumed() {
    preset "$1res" 1 "$2" "$3" "save_state_on_train_end = true" "$te_lr"
    run "$1res"
    [ "$rc" -eq 0 ] || { cat "$tmp/$1res.out"; fail "$2 1-step run exited $rc"; }
    preset "$1res" 2 "$2" "$3" "resume = \"$tmp/out/$1res-state\"" "$te_lr"
    run "$1res"
    [ "$rc" -eq 0 ] && grep -q "resumed from" "$tmp/$1res.out" ||
        { cat "$tmp/$1res.out"; fail "resumed $2 run: exit $rc"; }
    "$files" same "$tmp/out/$1.safetensors" "$tmp/out/$1res.safetensors" ||
        fail "$2: 1 step + resume differs from 2 steps straight"
    echo "ok    $2: 1 step + save_state + resume = 2 steps, bit for bit"
}
resumed oft "LyCORIS/Diag-OFT" 'conv_dim = 4
constrain = 0.001
rescaled = true'
resumed dylora "LyCORIS/DyLoRA" "$dy_args"
resumed full "LyCORIS/Native Fine-Tuning" 'lycoris_preset = "attn-mlp"'
resumed dora "LyCORIS/LoCon" 'dora_wd = true
lycoris_preset = "attn-mlp"'
resumed scalar "LyCORIS/LoCon" 'use_scalar = true
lycoris_preset = "attn-mlp"'
resumed dylnorm "LyCORIS/DyLoRA" "$dy_args
train_norm = true"

# --- 3. what LyCORIS ignores or cannot do ---------------------------------------------------------
preset gdrop 1 "LyCORIS/GLoRA" "rank_dropout = 0.2" "" "$te_lr"
run gdrop
[ "$rc" -eq 0 ] && grep -q "warning.*rank_dropout has no effect with LyCORIS/glora" "$tmp/gdrop.out" ||
    { cat "$tmp/gdrop.out"; fail "GLoRA with rank_dropout: exit $rc, want 0 and a warning"; }
preset idrop 1 "LyCORIS/iA3" "" "" "network_dropout = 0.1
$te_lr"
run idrop
[ "$rc" -eq 0 ] && grep -q "warning.*network_dropout has no effect with LyCORIS/ia3" "$tmp/idrop.out" ||
    { cat "$tmp/idrop.out"; fail "iA3 with network_dropout: exit $rc, want 0 and a warning"; }
preset fdrop 1 "LyCORIS/Native Fine-Tuning" "rank_dropout = 0.2"
run fdrop
[ "$rc" -eq 2 ] && grep -q "rank_dropout" "$tmp/fdrop.out" ||
    { cat "$tmp/fdrop.out"; fail "full with rank_dropout: exit $rc, want 2 naming rank_dropout"; }
preset dynorm 1 "LyCORIS/DyLoRA" "$dy_args" "" "scale_weight_norms = 1.0
$te_lr"
run dynorm
[ "$rc" -eq 0 ] && grep -q "warning.*scale_weight_norms has no effect with LyCORIS/dylora" "$tmp/dynorm.out" ||
    { cat "$tmp/dynorm.out"; fail "DyLoRA with scale_weight_norms: exit $rc, want 0 and a warning"; }
# bypass_mode computes the same as the merged weight: the LoCon file equals one without it
preset bypass 2 "LyCORIS/LoCon" 'bypass_mode = true
lycoris_preset = "attn-mlp"' "" "$te_lr"
run bypass
preset nobypass 2 "LyCORIS/LoCon" 'lycoris_preset = "attn-mlp"' "" "$te_lr"
run nobypass
"$files" same "$tmp/out/bypass.safetensors" "$tmp/out/nobypass.safetensors" > /dev/null ||
    { cat "$tmp/bypass.out"; fail "bypass_mode changed the LoCon"; }
preset bypassdrop 1 "LyCORIS/LoCon" 'bypass_mode = true
rank_dropout = 0.1' "" "$te_lr"
run bypassdrop
[ "$rc" -eq 2 ] && grep -q "bypass_mode" "$tmp/bypassdrop.out" ||
    { cat "$tmp/bypassdrop.out"; fail "bypass_mode with rank_dropout: exit $rc, want 2 naming bypass_mode"; }
echo "ok    warnings for ignored settings; full's rank_dropout refused; bypass_mode"
echo "all passed"
