# tui/local.mk — build fragment for tui/: the form screen, key table, plots, images, terminal.
libloratty_a_SOURCES += \
	tui/tui.c tui/tui.h \
	tui/form.c tui/form.h \
	tui/edit.c \
	tui/keys.c tui/keys.h \
	tui/plot.c tui/plot.h \
	tui/image.c tui/image.h \
	tui/term.c tui/term.h
