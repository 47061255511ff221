# bench/local.mk — kernel benchmarks. Not part of `make check`: `make bench` builds and runs
# them; the CUDA one reports "no CUDA device" and is skipped where there is no GPU.
# `make bench-train` (below) times LoRA training against PyTorch.
EXTRA_PROGRAMS += bench/bench_kernels bench/bench_cuda
bench_bench_kernels_SOURCES = bench/bench_kernels.c
bench_bench_kernels_LDADD = libloratty.a $(LORATTY_LIBS)
bench_bench_cuda_SOURCES = bench/bench_cuda.c
bench_bench_cuda_LDADD = libloratty.a $(LORATTY_LIBS)
CLEANFILES += bench/bench_kernels$(EXEEXT) bench/bench_cuda$(EXEEXT)

.PHONY: bench bench-cuda bench-train
bench: bench/bench_kernels$(EXEEXT) bench-cuda
	./bench/bench_kernels$(EXEEXT)

bench-cuda: bench/bench_cuda$(EXEEXT)
	./bench/bench_cuda$(EXEEXT) || test $$? -eq 77

# LoRA training speed against the PyTorch reference loop: needs the Python venv
# (/work/golden-venv or $LORATTY_BENCH_PYTHON), so not part of `make bench`; skipped without it.
EXTRA_DIST += bench/bench_train.sh bench/bench_train_torch.py
bench-train: loratty$(EXEEXT)
	LORATTY=./loratty$(EXEEXT) top_srcdir=$(top_srcdir) $(SHELL) $(top_srcdir)/bench/bench_train.sh \
	    || test $$? -eq 77
