# bench/local.mk — kernel benchmarks. Not part of `make check`: `make bench` builds and runs.
EXTRA_PROGRAMS += bench/bench_kernels
bench_bench_kernels_SOURCES = bench/bench_kernels.c
bench_bench_kernels_LDADD = libloratty.a $(LORATTY_LIBS)
CLEANFILES += bench/bench_kernels$(EXEEXT)

.PHONY: bench
bench: bench/bench_kernels$(EXEEXT)
	./bench/bench_kernels$(EXEEXT)
