# tests/masked_loss.mk — masked_loss: the mask pipeline (alpha channels, conditioning images,
# area average, latent cache), the masked loss and its gradient, the dataset rules, and
# loratty --run with masks (tests/run_masked_loss.sh, images from tests/masked_loss_images).
check_PROGRAMS += tests/test_loss_mask tests/test_masked_loss_dataset tests/masked_loss_images
TESTS += tests/test_loss_mask tests/test_masked_loss_dataset
tests_test_loss_mask_LDADD = $(TEST_LIBS)
tests_test_masked_loss_dataset_LDADD = $(TEST_LIBS)
tests_masked_loss_images_LDADD = $(TEST_LIBS)
TESTS += tests/run_masked_loss.sh
EXTRA_DIST += tests/run_masked_loss.sh
EXTRA_DIST += tests/golden/make_masked_loss_fixtures.py tests/fixtures/masked_loss/area.txt \
	tests/fixtures/masked_loss/rgba_37x29.png tests/fixtures/masked_loss/rgba_37x29_23x40_box.png \
	tests/fixtures/masked_loss/rgba_37x29_61x47_lanczos.png
