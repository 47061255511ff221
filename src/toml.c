/* toml.c — TOML 1.0.0 reader and writer (being written). */
#include "toml.h"
