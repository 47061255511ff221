/* new_model_cli.h — `loratty --new-model CONFIG_DIR -o OUT.safetensors [--seed N]
 * [--save-precision float|fp16|bf16]`: a randomly initialised SD model built from a diffusers
 * config folder, saved as one single-file (LDM layout) checkpoint, to train a base model from
 * scratch. main() hands the whole command line over when it holds --new-model. Exit status: 0,
 * 1 (the model could not be built or written), 2 (bad arguments). */
#ifndef LORATTY_NEW_MODEL_CLI_H
#define LORATTY_NEW_MODEL_CLI_H

int new_model_cli_main(int argc, char **argv);

#endif
