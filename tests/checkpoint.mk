# tests/checkpoint.mk — tests of the checkpoint work.
