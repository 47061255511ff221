# tests/vae_train.mk — training the VAE's own weights: loss values, finite-difference gradients
# of every parameter tensor and of the image, the logvar clamp, a short training run.
check_PROGRAMS += tests/test_vae_train
TESTS += tests/test_vae_train
tests_test_vae_train_LDADD = $(GRADCHECK_LIBS)
