/* reg_balance.h — how many times each regularisation image is used per epoch, as sd-scripts'
 * DreamBoothDataset does it: reg images are cycled until there are as many reg samples as
 * training samples (Σ images × repeats, non-reg): first each reg image with its own repeats,
 * then one more repeat each in turn. Images the count never reaches get 0 and are not used.
 * Shared by the plan (src/plan.c) and the epoch's batches (batches.c). */
#ifndef LORATTY_DATA_REG_BALANCE_H
#define LORATTY_DATA_REG_BALANCE_H

#include "engine/dataset.h"

/* A calloc'd array with one count per reg image of g, in subset then image order (at
 * least one element, so never NULL unless out of memory). */
long long *reg_balance_repeats(const dataset_group *g, long long train_samples);

#endif
