/* sample_cli.h — `loratty --sample`: one image from a model, a prompt and optional LoRA files,
 * written as a PNG with AUTOMATIC1111's "parameters" text. main() hands the whole command line
 * over when it holds --sample. Exit status: 0, 1 (the model or the sampling failed), 2 (bad
 * arguments). */
#ifndef LORATTY_SAMPLE_CLI_H
#define LORATTY_SAMPLE_CLI_H

int sample_cli_main(int argc, char **argv);

#endif
