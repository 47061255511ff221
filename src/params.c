/* params.c — the parameter table (being written). */
#include "params.h"
