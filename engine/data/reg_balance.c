/* reg_balance.c — sd-scripts' regularisation image repeats; see reg_balance.h. */
#include "engine/data/reg_balance.h"

#include <stdbool.h>
#include <stdlib.h>

long long *reg_balance_repeats(const dataset_group *g, long long train_samples)
{
    size_t total = 0;
    for (size_t s = 0; s < g->subset_count; s++)
        if (g->subsets[s].is_reg)
            total += g->subsets[s].image_count;
    long long *reps = calloc(total ? total : 1, sizeof *reps);
    if (!reps || total == 0 || train_samples == 0)
        return reps;
    long long n = 0;
    bool first = true;
    while (n < train_samples) {
        size_t k = 0;
        for (size_t s = 0; s < g->subset_count && n < train_samples; s++) {
            const dataset_subset *sub = &g->subsets[s];
            if (!sub->is_reg)
                continue;
            for (size_t i = 0; i < sub->image_count && n < train_samples; i++, k++) {
                long long add = first ? sub->num_repeats : 1;
                reps[k] += add;
                n += add;
            }
        }
        first = false;
    }
    return reps;
}
