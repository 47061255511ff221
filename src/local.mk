# src/local.mk — CLI, TOML, parameter table, configs, events, runs.
libloratty_a_SOURCES += \
	src/error.c src/error.h \
	src/toml.c src/toml.h \
	src/params.c src/params.h
