#!/bin/sh
# run_headless_variants.sh — `loratty --run` with the network options on the tiny SD1 checkpoint
# (tests/fixtures/checkpoint-sd1, configs of tests/fixtures/pipeline-sd1) and two demo images
# trained at 32x32 for 2 steps:
#  1. LyCORIS/LoHa and LyCORIS/LoKr (with conv_dim): each saves a LoRA whose tensors are
#     hada_* / lokr_* (no lora_down), ss_network_module = lycoris.kohya and ss_network_args
#     holding algo=loha / algo=lokr and conv_dim; LyCORIS/LoCon with a preset and dropouts;
#     on the tiny SDXL checkpoint, Kohya LoHa / LoKr (networks.loha / networks.lokr);
#  2. LoRA+ (loraplus_lr_ratio 16), the dropouts and block lr weights (down/mid/up_lr_weight with
#     block_lr_zero_threshold, block_dims) train and exit 0; the LoRA+ run's ss_network_args
#     holds the ratio, and its LoRA differs from a plain run's;
#  3. LoRA-FA (networks.lora_fa) over 2 epochs with a save per epoch: ss_network_module
#     networks.lora_fa, kohya keys; between the epoch-1 file and the last every lora_down tensor
#     is equal (frozen) and every lora_up tensor moved; continuing from the epoch-1 file
#     (network_weights) keeps its downs too; LoRA+ with LoRA-FA is refused naming the ratio;
#  4. Kohya DyLoRA (networks.dylora, unit 2 of network_dim 4, conv_dim 4, 2 micro-batches per
#     step): ss_network_module networks.dylora, ss_network_args holding unit; the same seed
#     trains the same file, and 2 steps + save_state + resume to 4 equal 4 steps straight; the
#     file has a Kohya LoCon file's keys and shapes and loads as one (network_weights); conv_dim
#     other than network_dim, scale_weight_norms and network_dropout are refused.
# The other LyCORIS algorithms: tests/run_lycoris_algos.sh.
# While lora_type is still marked "not supported yet" in the parameter table, --run refuses
# the non-Standard types before training: parts 1 and 3 then check that refusal and skip.
top=${top_srcdir:-.}
src=$(cd "$top" && pwd)
prog=${LORATTY:-${top_builddir:-.}/loratty}
files=${top_builddir:-.}/tests/test_train_run_files
tmp=$(mktemp -d "${TMPDIR:-/tmp}/loratty-variants.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export XDG_STATE_HOME="$tmp/state" OMP_NUM_THREADS=1
fail() { echo "FAIL: $*"; exit 1; }

mkdir -p "$tmp/model" "$tmp/img/2_zqx ring" "$tmp/out"
. "$src/tests/tiny_run_lib.sh"
tiny_sd1_model "$tmp/model"
tiny_images "$tmp/img/2_zqx ring" 2

# preset NAME [extra TOML lines for [advanced]] [extra lines for [loratty]] [for [basic]]
preset() {
    cat > "$tmp/$1.toml" <<EOF
[model]
pretrained_model_name_or_path = "$tmp/model/model.safetensors"
train_data_dir = "$tmp/img"
output_name = "$1"

[folders]
output_dir = "$tmp/out"

[basic]
train_batch_size = 2
max_train_steps = 2
resolution = "32,32"
enable_bucket = false
learning_rate = 0.001
unet_lr = 0.001
network_dim = 4
network_alpha = 2.0
text_encoder_lr = 0.0005
optimizer_type = "AdamW"
lr_scheduler = "constant"
seed = 7
cache_latents = true
$4

[advanced]
$2

[loratty]
lr_warmup = 0
$3
EOF
}

# run NAME: runs the preset, output in $tmp/NAME.out, exit status in $rc
run() {
    "$prog" --run "$tmp/$1.toml" > "$tmp/$1.out" 2>&1
    rc=$?
}

# inspect FILE: --inspect output in $tmp/inspect
inspect() {
    "$prog" --inspect "$1" > "$tmp/inspect" 2>&1 || { cat "$tmp/inspect"; fail "--inspect $1"; }
}

meta_is() {   # KEY VALUE: the metadata line of the last inspect
    grep -q "^  $1  *$2\$" "$tmp/inspect" || { grep "$1" "$tmp/inspect"; fail "$1 is not $2"; }
}

# --- 1. LoHa and LoKr -------------------------------------------------------------------------
preset loha "" 'lora_type = "LyCORIS/LoHa"
conv_dim = 2
conv_alpha = 1.0'
run loha
if [ "$rc" -eq 2 ] && grep -q "lora_type.*not supported by loratty's engine yet" "$tmp/loha.out"; then
    echo "SKIP: lora_type is not marked supported yet: LoHa / LoKr runs refused before training"
    lycoris=0
else
    lycoris=1
fi
if [ $lycoris -eq 1 ]; then
    [ "$rc" -eq 0 ] || { cat "$tmp/loha.out"; fail "LoHa run exited $rc"; }
    inspect "$tmp/out/loha.safetensors"
    grep -q "lora_unet_.*\.hada_w1_a " "$tmp/inspect" || fail "no U-Net hada_w1_a tensors"
    grep -q "lora_te_.*\.hada_w2_b " "$tmp/inspect" || fail "no text encoder hada_w2_b tensors"
    grep -q "lora_unet_down_blocks_0_resnets_0_conv1\.hada_w1_a " "$tmp/inspect" ||
        fail "no LoHa on the ResNet convolutions (conv_dim)"
    ! grep -q "lora_down" "$tmp/inspect" || fail "LoHa file has lora_down tensors"
    meta_is ss_network_module lycoris.kohya
    grep -q '^  ss_network_args .*"algo": "loha".*"conv_dim": "2"' "$tmp/inspect" ||
        { grep ss_network_args "$tmp/inspect"; fail "ss_network_args lacks algo=loha, conv_dim"; }

    preset lokr "" 'lora_type = "LyCORIS/LoKr"
conv_dim = 2
conv_alpha = 1.0
factor = 4
decompose_both = true'
    run lokr
    [ "$rc" -eq 0 ] || { cat "$tmp/lokr.out"; fail "LoKr run exited $rc"; }
    inspect "$tmp/out/lokr.safetensors"
    grep -q "lora_unet_.*\.lokr_w1 " "$tmp/inspect" || fail "no U-Net lokr_w1 tensors"
    grep -q "lora_te_.*\.lokr_w2" "$tmp/inspect" || fail "no text encoder lokr_w2 tensors"
    ! grep -q "lora_down\|hada_" "$tmp/inspect" || fail "LoKr file has other tensors"
    meta_is ss_network_module lycoris.kohya
    grep -q '^  ss_network_args .*"algo": "lokr".*"factor": "4"' "$tmp/inspect" ||
        { grep ss_network_args "$tmp/inspect"; fail "ss_network_args lacks algo=lokr, factor"; }

    # a preset and the dropouts (LoCon: attention modules only)
    preset locon "" 'lora_type = "LyCORIS/LoCon"
lycoris_preset = "attn-only"
rank_dropout = 0.2
rank_dropout_scale = true
module_dropout = 0.1' "network_dropout = 0.1"
    run locon
    [ "$rc" -eq 0 ] || { cat "$tmp/locon.out"; fail "LoCon attn-only run exited $rc"; }
    inspect "$tmp/out/locon.safetensors"
    grep -q "attn1_to_q\.lora_down" "$tmp/inspect" || fail "attn-only: no attention modules"
    ! grep -q "resnets\|proj_in\|mlp_fc" "$tmp/inspect" || fail "attn-only trained other modules"
    meta_is ss_network_module lycoris.kohya
    grep -q '^  ss_network_args .*"preset": "attn-only"' "$tmp/inspect" || fail "no preset in ss_network_args"

    # SDXL: kohya's own networks.loha / networks.lokr
    fx="$src/tests/fixtures"
    mkdir -p "$tmp/xl/unet" "$tmp/xl/text_encoder" "$tmp/xl/text_encoder_2" "$tmp/xl/vae"
    cp "$fx/checkpoint-sdxl/model.safetensors" "$tmp/xl/"
    cp "$fx/unet-sdxl/config.json" "$tmp/xl/unet/"
    cp "$fx/clip-sd1/config.json" "$tmp/xl/text_encoder/"
    cp "$fx/clip-sdxl-te2/config.json" "$tmp/xl/text_encoder_2/"
    cp "$fx/vae-sd/config.json" "$tmp/xl/vae/"
    cp -R "$fx/pipeline-sd1/tokenizer" "$fx/pipeline-sd1/scheduler" "$tmp/xl/"
    for t in LoHa:loha:hada_w1_a LoKr:lokr:lokr_w1; do
        kind=${t%%:*} rest=${t#*:}
        mod=${rest%%:*} key=${rest#*:}
        preset "xl$mod" "vae = \"$fx/vae-sd/weights.safetensors\"" "lora_type = \"Kohya $kind\"" \
            "network_train_unet_only = true"
        sed -i -e "s|^pretrained_model_name_or_path = .*|pretrained_model_name_or_path = \"$tmp/xl/model.safetensors\"\nsdxl = true|" \
            -e '/^text_encoder_lr/d' "$tmp/xl$mod.toml"
        run "xl$mod"
        [ "$rc" -eq 0 ] || { cat "$tmp/xl$mod.out"; fail "SDXL Kohya $kind run exited $rc"; }
        inspect "$tmp/out/xl$mod.safetensors"
        grep -q "lora_unet_.*\.$key " "$tmp/inspect" || fail "SDXL Kohya $kind: no $key tensors"
        ! grep -q "lora_down" "$tmp/inspect" || fail "SDXL Kohya $kind: lora_down tensors"
        meta_is ss_network_module "networks.$mod"
    done
fi

# --- 2. LoRA+ and block lr weights ------------------------------------------------------------
preset plain
run plain
[ "$rc" -eq 0 ] || { cat "$tmp/plain.out"; fail "plain run exited $rc"; }
preset plus "" "loraplus_lr_ratio = 16"
run plus
[ "$rc" -eq 0 ] || { cat "$tmp/plus.out"; fail "LoRA+ run exited $rc"; }
"$files" meta "$tmp/out/plus.safetensors" ss_network_module=networks.lora \
    ss_network_args='{"loraplus_lr_ratio": "16"}' || fail "LoRA+ metadata"
! "$files" same "$tmp/out/plain.safetensors" "$tmp/out/plus.safetensors" > /dev/null ||
    fail "LoRA+ trained the same LoRA as the plain run"
preset drop "" 'rank_dropout = 0.3
module_dropout = 0.2' "network_dropout = 0.1"
run drop
[ "$rc" -eq 0 ] || { cat "$tmp/drop.out"; fail "dropout run exited $rc"; }
"$files" meta "$tmp/out/drop.safetensors" ss_network_dropout=0.1 \
    ss_network_args='{"rank_dropout": "0.3", "module_dropout": "0.2"}' || fail "dropout metadata"
! "$files" same "$tmp/out/plain.safetensors" "$tmp/out/drop.safetensors" > /dev/null ||
    fail "the dropouts changed nothing"
preset blocks "" 'down_lr_weight = "sine"
mid_lr_weight = "0.5"
up_lr_weight = "0,0,0,0,0,0,1,1,1,1,1,1"
block_lr_zero_threshold = "0.1"'
run blocks
[ "$rc" -eq 0 ] || { cat "$tmp/blocks.out"; fail "block lr weights run exited $rc"; }
inspect "$tmp/out/blocks.safetensors"
grep -q "lora_unet_mid_block" "$tmp/inspect" || fail "block lr: no mid block modules"
! grep -q "lora_unet_up_blocks_0_" "$tmp/inspect" || fail "block lr: up block 0 (weight 0) trained"
preset bdims "" 'block_dims = "2,2,2,2,2,2,2,2,2,2,2,2,3,4,4,4,4,4,4,4,4,4,4,4,4"
block_alphas = "1,1,1,1,1,1,1,1,1,1,1,1,1,2,2,2,2,2,2,2,2,2,2,2,2"'
run bdims
[ "$rc" -eq 0 ] || { cat "$tmp/bdims.out"; fail "block_dims run exited $rc"; }
inspect "$tmp/out/bdims.safetensors"
grep -q "lora_unet_down_blocks_1_attentions_0_proj_in\.lora_down\.weight  *F[0-9]*  *\[2, " "$tmp/inspect" ||
    { grep down_blocks_1_attentions_0_proj_in "$tmp/inspect"; fail "block_dims: down block rank is not 2"; }

# --- 3. LoRA-FA ----------------------------------------------------------------------------------
lora_diff=${top_builddir:-.}/tests/lora_diff
# diff_is A B KIND CHANGED: lora_diff's line for KIND says CHANGED ("none" or "all") of its
# tensors differ between A and B, with at least one tensor and nonzero values in B
diff_is() {
    "$lora_diff" "$1" "$2" > "$tmp/diff" || { cat "$tmp/diff"; fail "lora_diff $1 $2"; }
    line=$(grep "^$3 " "$tmp/diff") want=$4
    set -- $line   # KIND CHANGED/TOTAL MAX_DIFF MAX_B
    changed=${2%/*} total=${2#*/}
    [ "$total" -gt 0 ] && [ "$4" != 0 ] || fail "no nonzero $1 tensors ($line)"
    case $want in
        none) [ "$changed" -eq 0 ] || fail "$changed of $total $1 tensors changed ($line)" ;;
        all) [ "$changed" -eq "$total" ] || fail "only $changed of $total $1 tensors changed ($line)" ;;
    esac
    echo "ok    $line ($want changed)"
}
preset lorafa "" 'lora_type = "LoRA-FA"'
# 2 epochs of 2 steps; saved in f32, so that AdamW's weight decay alone would show on a down
sed -i -e 's/^max_train_steps = 2$/max_train_steps = 4/' \
    -e 's/^output_name = .*/&\nsave_precision = "float"/' "$tmp/lorafa.toml"
run lorafa
[ "$rc" -eq 0 ] || { cat "$tmp/lorafa.out"; fail "LoRA-FA run exited $rc"; }
first="$tmp/out/lorafa-000001.safetensors"
[ -f "$first" ] || { ls "$tmp/out"; fail "LoRA-FA: no epoch-1 save"; }
"$files" meta "$tmp/out/lorafa.safetensors" ss_network_module=networks.lora_fa || fail "LoRA-FA metadata"
inspect "$tmp/out/lorafa.safetensors"
grep -q "lora_unet_down_blocks_0_resnets_0_conv1\.lora_down" "$tmp/inspect" || fail "LoRA-FA: no conv modules"
grep -q "lora_te_.*\.lora_up" "$tmp/inspect" || fail "LoRA-FA: no text encoder modules"
diff_is "$first" "$tmp/out/lorafa.safetensors" lora_down none
diff_is "$first" "$tmp/out/lorafa.safetensors" lora_up all
preset lorafa2 "" 'lora_type = "LoRA-FA"' "network_weights = \"$first\""
sed -i 's/^output_name = .*/&\nsave_precision = "float"/' "$tmp/lorafa2.toml"
run lorafa2
[ "$rc" -eq 0 ] || { cat "$tmp/lorafa2.out"; fail "LoRA-FA from network_weights exited $rc"; }
diff_is "$first" "$tmp/out/lorafa2.safetensors" lora_down none
diff_is "$first" "$tmp/out/lorafa2.safetensors" lora_up all
preset lorafaplus "" 'lora_type = "LoRA-FA"
loraplus_lr_ratio = 16'
run lorafaplus
[ "$rc" -eq 2 ] && grep -q "loraplus_lr_ratio" "$tmp/lorafaplus.out" ||
    { cat "$tmp/lorafaplus.out"; fail "LoRA-FA with LoRA+: exit $rc, want 2 naming loraplus_lr_ratio"; }

# --- 4. DyLoRA ----------------------------------------------------------------------------------
# dypreset NAME STEPS [extra [advanced] lines] [extra [loratty] lines]
dypreset() {
    preset "$1" "gradient_accumulation_steps = 2
$3" 'lora_type = "Kohya DyLoRA"
unit = 2
conv_dim = 4
conv_alpha = 1.0
'"$4"
    sed -i "s/^max_train_steps = 2\$/max_train_steps = $2/" "$tmp/$1.toml"
}
dypreset dylora 4
run dylora
[ "$rc" -eq 0 ] || { cat "$tmp/dylora.out"; fail "DyLoRA run exited $rc"; }
"$files" meta "$tmp/out/dylora.safetensors" ss_network_module=networks.dylora ss_network_dim=4 \
    ss_network_args='{"conv_dim": "4", "conv_alpha": "1", "unit": "2"}' ss_steps=4 ||
    fail "DyLoRA metadata"
dypreset dylora_again 4
run dylora_again
[ "$rc" -eq 0 ] || { cat "$tmp/dylora_again.out"; fail "second DyLoRA run exited $rc"; }
"$files" same "$tmp/out/dylora.safetensors" "$tmp/out/dylora_again.safetensors" ||
    fail "DyLoRA: the same seed trained another file"
dypreset dyres 2 "save_state_on_train_end = true"
run dyres
[ "$rc" -eq 0 ] || { cat "$tmp/dyres.out"; fail "DyLoRA 2-step run exited $rc"; }
dypreset dyres 4 "resume = \"$tmp/out/dyres-state\""
run dyres
[ "$rc" -eq 0 ] && grep -q "resumed from" "$tmp/dyres.out" ||
    { cat "$tmp/dyres.out"; fail "resumed DyLoRA run: exit $rc"; }
"$files" same "$tmp/out/dylora.safetensors" "$tmp/out/dyres.safetensors" ||
    fail "DyLoRA: 2 steps + resume differs from 4 steps straight"
# a plain LoCon of the same ranks continues from it: the same keys and shapes
preset dyload "" 'lora_type = "Kohya LoCon"
conv_dim = 4
conv_alpha = 2.0' "network_weights = \"$tmp/out/dylora.safetensors\""
run dyload
[ "$rc" -eq 0 ] || { cat "$tmp/dyload.out"; fail "LoCon from the DyLoRA file exited $rc"; }
"$lora_diff" "$tmp/out/dylora.safetensors" "$tmp/out/dyload.safetensors" > "$tmp/diff" ||
    { cat "$tmp/diff"; fail "the DyLoRA file and a LoCon file have other keys or shapes"; }
echo "ok    DyLoRA: reproducible, resumes bit-exact, loads as a LoCon file of the same keys"
# refused KEY: the dybad run exits 2 before training, naming KEY
refused() {
    run dybad
    [ "$rc" -eq 2 ] && grep -q "$1" "$tmp/dybad.out" ||
        { cat "$tmp/dybad.out"; fail "DyLoRA with $1: exit $rc, want 2 naming $1"; }
}
dypreset dybad 2
sed -i 's/^conv_dim = 4$/conv_dim = 1/' "$tmp/dybad.toml"   # kohya_ss's default conv_dim
refused conv_dim
dypreset dybad 2 "" "scale_weight_norms = 1.0"
refused scale_weight_norms
dypreset dybad 2 "" "network_dropout = 0.1"
refused network_dropout
echo "ok    DyLoRA refuses conv_dim ≠ network_dim, scale_weight_norms, network_dropout"

echo "all passed"
