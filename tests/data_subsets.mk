# tests/data_subsets.mk — sd-scripts dataset configs in the data pipeline: per-subset and
# per-dataset options, color_aug, face_crop_aug_range, fine-tuning metadata subsets.
check_PROGRAMS += tests/test_dataset_options
TESTS += tests/test_dataset_options
tests_test_dataset_options_LDADD = $(TEST_LIBS)
check_PROGRAMS += tests/test_color_aug
TESTS += tests/test_color_aug
tests_test_color_aug_LDADD = $(TEST_LIBS)
EXTRA_DIST += tests/golden/make_data_subsets_fixtures.py \
	tests/fixtures/data_subsets/color_aug.txt \
	tests/fixtures/data_subsets/color_gamma_0.95.png \
	tests/fixtures/data_subsets/color_gamma_1.0337.png \
	tests/fixtures/data_subsets/color_gamma_1.05.png \
	tests/fixtures/data_subsets/color_hue_-0.25.png \
	tests/fixtures/data_subsets/color_hue_-4.8.png \
	tests/fixtures/data_subsets/color_hue_3.7.png \
	tests/fixtures/data_subsets/color_hue_7.999.png
check_PROGRAMS += tests/test_face_crop
TESTS += tests/test_face_crop
tests_test_face_crop_LDADD = $(TEST_LIBS)
EXTRA_DIST += tests/fixtures/data_subsets/face.txt \
	tests/fixtures/data_subsets/face_74x58_32x24.png
check_PROGRAMS += tests/test_finetune
TESTS += tests/test_finetune
tests_test_finetune_LDADD = $(TEST_LIBS)
TESTS += tests/data_subsets_run.sh
EXTRA_DIST += tests/data_subsets_run.sh
# the LoRA's dataset metadata: ss_datasets with a dataset config, the legacy keys without
check_PROGRAMS += tests/test_train_metadata
TESTS += tests/test_train_metadata
tests_test_train_metadata_LDADD = $(TEST_LIBS)
