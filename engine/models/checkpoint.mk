# engine/models/checkpoint.mk — build fragment (owned by the checkpoint work).
