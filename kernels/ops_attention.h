/* ops_attention.h — attention and embedding ops (CPU k_*, CUDA kc_*).
 * Shell created with the op interface; the attention/embedding engineer fills it. */
#ifndef LORATTY_KERNELS_OPS_ATTENTION_H
#define LORATTY_KERNELS_OPS_ATTENTION_H

#include <stddef.h>

#endif
