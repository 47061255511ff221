# tiny_run_lib.sh — the pieces of a real `loratty --run` on the CPU in seconds, shared by the
# end-to-end tests (sourced, not run; needs $src, the source tree):
#   tiny_sd1_model DIR       the tiny SD1 single-file checkpoint with its configs beside it
#   tiny_images DIR N        the first N demo images (2 ≤ N ≤ 12) and their captions

tiny_sd1_model() {
    mkdir -p "$1"
    cp "$src/tests/fixtures/checkpoint-sd1/model.safetensors" "$1/"
    for d in unet vae text_encoder tokenizer scheduler; do
        cp -R "$src/tests/fixtures/pipeline-sd1/$d" "$1/"
    done
}

tiny_images() {
    mkdir -p "$1"
    for i in $(seq -w 1 "$2" | sed 's/^\(.\)$/0\1/'); do
        cp "$src/share/demo/img/10_zqx/zqx_$i.png" "$src/share/demo/img/10_zqx/zqx_$i.txt" "$1/"
    done
}
