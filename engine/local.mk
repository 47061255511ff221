# engine/local.mk — build fragment for engine/.
