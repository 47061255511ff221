# tests/samplers.mk — the sample-image samplers (engine/sample/sampler*.c) against diffusers'
# schedulers as sd-scripts configures them (fixtures from tests/golden/make_sampler_fixtures.py).
check_PROGRAMS += tests/test_samplers_golden
TESTS += tests/test_samplers_golden
tests_test_samplers_golden_LDADD = $(TEST_LIBS)
EXTRA_DIST += tests/golden/make_sampler_fixtures.py tests/fixtures/samplers/trajectories.safetensors
