/* checkpoint.c — gradient checkpointing over the activation arena (see checkpoint.h). The
 * memory saving is all in the plan (a shared region); at run time it is one extra forward. */
#include "kernels/checkpoint.h"

void ckpt_plan_begin(arena *a, const ckpt_segment *s)
{
    if (s->enabled)
        arena_shared_begin(a, CKPT_REGION);
}

void ckpt_plan_end(arena *a, const ckpt_segment *s)
{
    if (s->enabled)
        arena_shared_end(a);
}

void ckpt_forward(ckpt_segment *s)
{
    s->forward(s->ctx);
}

void ckpt_backward(ckpt_segment *s)
{
    if (s->enabled) {
        s->forward(s->ctx);
        s->recomputes++;
    }
    s->backward(s->ctx);
}
