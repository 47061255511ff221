# bench/local.mk — kernel benchmarks. Not part of `make check`: `make bench` builds and runs
# them; the CUDA one reports "no CUDA device" and is skipped where there is no GPU.
EXTRA_PROGRAMS += bench/bench_kernels bench/bench_cuda
bench_bench_kernels_SOURCES = bench/bench_kernels.c
bench_bench_kernels_LDADD = libloratty.a $(LORATTY_LIBS)
bench_bench_cuda_SOURCES = bench/bench_cuda.c
bench_bench_cuda_LDADD = libloratty.a $(LORATTY_LIBS)
CLEANFILES += bench/bench_kernels$(EXEEXT) bench/bench_cuda$(EXEEXT)

.PHONY: bench bench-cuda
bench: bench/bench_kernels$(EXEEXT) bench-cuda
	./bench/bench_kernels$(EXEEXT)

bench-cuda: bench/bench_cuda$(EXEEXT)
	./bench/bench_cuda$(EXEEXT) || test $$? -eq 77
