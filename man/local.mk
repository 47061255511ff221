# man/local.mk — the manual pages. loratty.toml(5) is generated from the parameter table by
# man/make_man5 at build time, so it always lists exactly the parameters loratty knows.
EXTRA_PROGRAMS += man/make_man5
man_make_man5_SOURCES = man/make_man5.c
man_make_man5_LDADD = libloratty.a $(LORATTY_LIBS)
man_MANS += man/loratty.toml.5
CLEANFILES += man/loratty.toml.5 man/make_man5$(EXEEXT)

man/loratty.toml.5: man/make_man5$(EXEEXT)
	$(AM_V_GEN)$(MKDIR_P) man && ./man/make_man5$(EXEEXT) >$@.tmp && mv $@.tmp $@



# loratty(1) is written by hand except its list of TUI keys, which comes from the key table
# (tui/keys.c) through `loratty --keys-mdoc`, so the page and the help screen cannot differ.
man_MANS += man/loratty.1
EXTRA_DIST += man/loratty.1.in
CLEANFILES += man/loratty.1
man/loratty.1: $(srcdir)/man/loratty.1.in loratty$(EXEEXT)
	$(AM_V_GEN)$(MKDIR_P) man && ./loratty$(EXEEXT) --keys-mdoc >$@.keys && \
	sed -e '/^@KEYS@$$/{r $@.keys' -e 'd;}' $(srcdir)/man/loratty.1.in >$@.tmp && rm -f $@.keys && mv $@.tmp $@
