/* presets.h — where presets live: the ones shipped with loratty (DATADIR/presets, or the
 * source tree's share/presets when loratty runs uninstalled) and the user's own
 * ($XDG_CONFIG_HOME/loratty/presets), and finding a preset by name in them. */
#ifndef LORATTY_PRESETS_H
#define LORATTY_PRESETS_H

#include <stddef.h>

/* DATADIR: $LORATTY_DATADIR, else the installed data dir, else the source tree's share/. */
const char *presets_datadir(void);
void presets_shipped_dir(char *buf, size_t size);
void presets_user_dir(char *buf, size_t size);
/* A path as given when it exists; otherwise a bare NAME (no '/') is looked up as NAME or
 * NAME.toml in the user's presets, then the shipped ones. Returns 0 and fills buf when
 * found, -1 (buf = the name as given) when not. */
int presets_resolve(const char *name, char *buf, size_t size);

#endif
