# tests/data.mk — the training data pipeline (engine/data/): image loading, resize and crop,
# captions, batches, latent cache; golden images from tests/golden/make_data_fixtures.py.
check_PROGRAMS += tests/test_image_load tests/test_resize tests/test_captions \
	tests/test_batches tests/test_latent_cache
TESTS += tests/test_image_load tests/test_resize tests/test_captions \
	tests/test_batches tests/test_latent_cache
tests_test_image_load_LDADD = $(TEST_LIBS)
tests_test_resize_LDADD = $(TEST_LIBS)
tests_test_captions_LDADD = $(TEST_LIBS)
tests_test_batches_LDADD = $(TEST_LIBS)
tests_test_latent_cache_LDADD = $(TEST_LIBS)
EXTRA_DIST += tests/golden/make_data_fixtures.py tests/fixtures/data/manifest.txt
EXTRA_DIST += tests/fixtures/data/load_gray.png tests/fixtures/data/load_gray_png_rgb.png \
	tests/fixtures/data/load_la.png tests/fixtures/data/load_la_png_rgb.png \
	tests/fixtures/data/load_palette.png tests/fixtures/data/load_palette_png_rgb.png \
	tests/fixtures/data/load_rgb.bmp tests/fixtures/data/load_rgb_bmp_rgb.png \
	tests/fixtures/data/load_rgba.png tests/fixtures/data/load_rgba.webp \
	tests/fixtures/data/load_rgba_png_rgb.png tests/fixtures/data/load_rgba_webp_rgb.png \
	tests/fixtures/data/orient_1.jpg tests/fixtures/data/orient_1_transposed.png \
	tests/fixtures/data/orient_2.jpg tests/fixtures/data/orient_2_transposed.png \
	tests/fixtures/data/orient_3.jpg tests/fixtures/data/orient_3_transposed.png \
	tests/fixtures/data/orient_4.jpg tests/fixtures/data/orient_4_transposed.png \
	tests/fixtures/data/orient_5.jpg tests/fixtures/data/orient_5_transposed.png \
	tests/fixtures/data/orient_6.jpg tests/fixtures/data/orient_6_transposed.png \
	tests/fixtures/data/orient_7.jpg tests/fixtures/data/orient_7_transposed.png \
	tests/fixtures/data/orient_8.jpg tests/fixtures/data/orient_8_transposed.png \
	tests/fixtures/data/orient_src.png tests/fixtures/data/resize_37x29_16x16_auto.png \
	tests/fixtures/data/resize_37x29_20x15_auto.png \
	tests/fixtures/data/resize_37x29_23x17_bicubic.png \
	tests/fixtures/data/resize_37x29_23x17_bilinear.png \
	tests/fixtures/data/resize_37x29_23x17_nearest.png \
	tests/fixtures/data/resize_37x29_23x40_box.png \
	tests/fixtures/data/resize_37x29_50x20_auto.png \
	tests/fixtures/data/resize_37x29_55x41_area.png \
	tests/fixtures/data/resize_37x29_55x41_bicubic.png \
	tests/fixtures/data/resize_37x29_55x41_bilinear.png \
	tests/fixtures/data/resize_37x29_55x41_nearest.png \
	tests/fixtures/data/resize_37x29_61x47_auto.png \
	tests/fixtures/data/resize_53x41_31x23_lanczos.png \
	tests/fixtures/data/resize_63x45_21x15_auto.png \
	tests/fixtures/data/resize_74x58_37x29_auto.png tests/fixtures/data/src_29x37.png \
	tests/fixtures/data/src_37x29.png tests/fixtures/data/src_53x41.png \
	tests/fixtures/data/src_63x45.png tests/fixtures/data/src_74x58.png \
	tests/fixtures/data/trim_29x37_24x32.png tests/fixtures/data/trim_37x29_32x24.png \
	tests/fixtures/data/trim_37x29_64x48.png
