# tests/data_subsets.mk — sd-scripts dataset configs in the data pipeline: per-subset and
# per-dataset options, color_aug, face_crop_aug_range, fine-tuning metadata subsets.
check_PROGRAMS += tests/test_dataset_options
TESTS += tests/test_dataset_options
tests_test_dataset_options_LDADD = $(TEST_LIBS)
