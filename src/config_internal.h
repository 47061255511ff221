/* config_internal.h — helpers shared by config.c, config_load.c, config_save.c and
 * config_validate.c; not for the rest of the program. */
#ifndef LORATTY_CONFIG_INTERNAL_H
#define LORATTY_CONFIG_INTERNAL_H

#include "config.h"

const char *config_intern_origin(config *cfg, const char *origin);
void config_key_label(const param *p, char *buf, size_t size);
void config_describe_choices(const param *p, char *buf, size_t size);
toml_value *config_coerce(const param *p, const toml_value *in, const char *origin, error_info *err);
int config_store(config *cfg, const param *p, toml_value *v, const char *origin);
const param *config_find_key(const char *key, char *suggestion, size_t size);
void config_format_float(double x, char *buf, size_t size);
bool config_is_text_param(const param *p);
/* params_lookup_fn over a config (ctx = const config *), for params_applies(). */
const char *config_lookup_text(const char *name, void *ctx);
int config_parse_resolution(const char *text, int *width, int *height);

#endif
