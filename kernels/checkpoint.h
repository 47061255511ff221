/* checkpoint.h — gradient checkpointing: trade a second forward for activation memory.
 *
 * A segment is a block (a ResNet block, a transformer block) with a forward and a backward
 * callback that find their buffers through the arena. Without checkpointing its internal
 * activations are persistent arena buffers kept from forward to backward. With it, they are
 * planned as one tenant of the shared region CKPT_REGION, so all checkpointed blocks overlay
 * one space the size of the largest block: after the forward only the segment's input (the
 * previous segment's persistent output) survives, and ckpt_backward runs the forward again
 * to refill the internals just before the block's backward (sd-scripts'
 * --gradient_checkpointing, torch.utils.checkpoint).
 *
 * Gradients are bit-identical either way because the recomputation is the same deterministic
 * code on the same input; randomness inside a block must come from the counter-based RNG
 * with fixed (seed, offset) so a recomputed dropout mask equals the first one.
 * The segment's input and output must be persistent buffers, never inside CKPT_REGION.
 */
#ifndef LORATTY_KERNELS_CHECKPOINT_H
#define LORATTY_KERNELS_CHECKPOINT_H

#include "kernels/arena.h"

#define CKPT_REGION "checkpoint recompute"

typedef struct ckpt_segment {
    const char *name;
    int enabled;                  /* 1: do not keep internals; recompute them in backward */
    void (*forward)(void *ctx);   /* input -> output, filling the internal activations */
    void (*backward)(void *ctx);  /* uses the internals of the latest forward */
    void *ctx;
    long recomputes;              /* forwards run again by ckpt_backward */
} ckpt_segment;

/* Wrap the arena_request calls for the segment's internal activations (not its input or
 * output) in these two; with checkpointing they land in CKPT_REGION. */
void ckpt_plan_begin(arena *a, const ckpt_segment *s);
void ckpt_plan_end(arena *a, const ckpt_segment *s);

/* Runs the forward. With checkpointing the internals are dead once another segment runs. */
void ckpt_forward(ckpt_segment *s);
/* With checkpointing, recomputes the forward first; then runs the backward. */
void ckpt_backward(ckpt_segment *s);

#endif
