# tui/local.mk — build fragment for tui/: the form screen, key table, plots, images, terminal.
libloratty_a_SOURCES += \
	tui/tui.c tui/tui.h \
	tui/form.c tui/form.h \
	tui/edit.c \
	tui/keys.c tui/keys.h \
	tui/plot.c tui/plot.h \
	tui/image.c tui/image.h \
	tui/term.c tui/term.h
# the run monitor (loratty --attach, F5/F8 in the forms)
libloratty_a_SOURCES += tui/monitor.c tui/monitor_model.c tui/monitor.h
# the Dataset Preparation section, the plan before F5, F9's run queue
libloratty_a_SOURCES += tui/prep.c tui/prep.h
