# tests/params.mk
