#!/bin/sh
# make_base_model.sh — rebuilds share/demo/tiny-sd.safetensors, the demo's base model, with
# loratty alone, from nothing: generated data sets of captioned shapes (one shape or two per
# image for the U-Net; up to eight per image, more edges and colours, for the VAE), a randomly
# initialised SD1-family model of the sizes in share/demo/tiny-sd/*/config.json, then
#   stage 1:  the VAE trained from scratch at 32x32 (share/demo/tiny-sd-vae.toml; 4x cheaper),
#   stage 1b: the VAE fine-tuned at 64x64, the size it is used at (share/demo/tiny-sd-vae64.toml),
#   stage 2:  the U-Net and the text encoder trained from scratch (share/demo/tiny-sd-unet.toml)
# Run from the source tree after building:  share/demo/make_base_model.sh [WORKDIR]
# Env: LORATTY (./loratty), SHAPES (images, 4000), VAE_STEPS, UNET_STEPS (the presets' own).
# About an hour on 2 otherwise idle CPU cores; deterministic for a given thread count.
set -eu
prog=${LORATTY:-./loratty}
work=${1:-demo-base}
demo=share/demo
count=${SHAPES:-4000}
[ -x "$prog" ] || { echo "make_base_model: no loratty at $prog (build first, or set LORATTY)"; exit 1; }
mkdir -p "$work"

if [ ! -d "$work/shapes" ]; then
    "$prog" --make-shapes "$work/shapes" --count "$count" --seed 1
fi
if [ ! -d "$work/shapes-vae" ]; then
    "$prog" --make-shapes "$work/shapes-vae" --count "$count" --seed 2 --objects 8
fi
"$prog" --new-model "$demo/tiny-sd" -o "$work/tiny-sd-init.safetensors" --seed 1 \
    --save-precision float
# configs beside each stage's checkpoint (loratty and diffusers read them from there)
for stage in tiny-sd-init tiny-sd-vae tiny-sd-vae64 tiny-sd; do
    rm -rf "${work:?}/$stage"
    cp -R "$demo/tiny-sd" "$work/$stage"
done

vae_steps=${VAE_STEPS:+--set max_train_steps=$VAE_STEPS}
# shellcheck disable=SC2086
"$prog" --run "$demo/tiny-sd-vae.toml" $vae_steps \
    --set "pretrained_model_name_or_path=$work/tiny-sd-init.safetensors" \
    --set "train_data_dir=$work/shapes-vae" --set "output_dir=$work" | tee "$work/vae.log"
"$prog" --run "$demo/tiny-sd-vae64.toml" \
    --set "pretrained_model_name_or_path=$work/tiny-sd-vae.safetensors" \
    --set "train_data_dir=$work/shapes-vae" --set "output_dir=$work" | tee "$work/vae64.log"
# the U-Net sees latents × scaling_factor: 1 / the std the VAE run measured at its end
sf=$(sed -n 's/.*scaling_factor = \([0-9.e+-]*\).*/\1/p' "$work/vae64.log" | tail -1)
[ -n "$sf" ] || { echo "make_base_model: the VAE run printed no scaling_factor"; exit 1; }
for stage in tiny-sd-vae64 tiny-sd; do
    sed -i "s/\"scaling_factor\": [0-9.e+-]*/\"scaling_factor\": $sf/" "$work/$stage/vae/config.json"
done

unet_steps=${UNET_STEPS:+--set max_train_steps=$UNET_STEPS}
# shellcheck disable=SC2086
"$prog" --run "$demo/tiny-sd-unet.toml" $unet_steps \
    --set "pretrained_model_name_or_path=$work/tiny-sd-vae64.safetensors" \
    --set "train_data_dir=$work/shapes" --set "output_dir=$work" | tee "$work/unet.log"
echo "make_base_model: the base model is $work/tiny-sd.safetensors (configs in $work/tiny-sd/);"
echo "  to ship it: cp $work/tiny-sd.safetensors $demo/ && cp $work/tiny-sd/vae/config.json $demo/tiny-sd/vae/"
