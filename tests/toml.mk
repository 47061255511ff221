# tests/toml.mk
