# share/local.mk — presets and the demo, installed under $(pkgdatadir).
presetsdir = $(pkgdatadir)/presets
dist_presets_DATA =
demodir = $(pkgdatadir)/demo
dist_demo_DATA =
