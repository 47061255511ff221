# kernels/local.mk — build fragment for kernels/.
