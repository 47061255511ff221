# tui/local.mk — build fragment for tui/: the form screen, key table, plots, images, terminal.
libloratty_a_SOURCES += \
	tui/plot.c tui/plot.h \
	tui/image.c tui/image.h \
	tui/term.c tui/term.h
