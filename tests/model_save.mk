# tests/model_save.mk — tests of new models and whole-model single-file saves: the inverse LDM
# name map on the full-size manifests, round trips of the tiny SD1 / SDXL checkpoints, the
# random initialisation, a tiny SD2 model, and `loratty --new-model`.
check_PROGRAMS += tests/test_model_save
TESTS += tests/test_model_save tests/new_model_cli.sh
tests_test_model_save_LDADD = $(TEST_LIBS)
EXTRA_DIST += tests/new_model_cli.sh
