# tui/local.mk — build fragment for tui/.
