# bench/local.mk — build fragment for bench/.
