/* ops_loss.h — loss ops (CPU k_*, CUDA kc_*).
 * Shell created with the op interface; the loss engineer fills it. */
#ifndef LORATTY_KERNELS_OPS_LOSS_H
#define LORATTY_KERNELS_OPS_LOSS_H

#include <stddef.h>

#endif
