# share/local.mk — presets and the demo, installed under $(pkgdatadir).
presetsdir = $(pkgdatadir)/presets
dist_presets_DATA = share/presets/sd15-lora.toml share/presets/sd15-locon.toml \
	share/presets/sdxl-lora-8gb.toml share/presets/sdxl-lora-24gb.toml \
	share/presets/sd21-768v-lora.toml
demodir = $(pkgdatadir)/demo
dist_demo_DATA = share/demo/demo.toml share/demo/make_images.py share/demo/tiny-sd.safetensors \
	share/demo/make_base_model.sh share/demo/tiny-sd-vae.toml share/demo/tiny-sd-vae64.toml \
	share/demo/tiny-sd-unet.toml
# the demo base model's diffusers configs, beside it
demomodeldir = $(pkgdatadir)/demo/tiny-sd
demounetdir = $(demomodeldir)/unet
dist_demounet_DATA = share/demo/tiny-sd/unet/config.json
demovaedir = $(demomodeldir)/vae
dist_demovae_DATA = share/demo/tiny-sd/vae/config.json
demotedir = $(demomodeldir)/text_encoder
dist_demote_DATA = share/demo/tiny-sd/text_encoder/config.json
demoscheddir = $(demomodeldir)/scheduler
dist_demosched_DATA = share/demo/tiny-sd/scheduler/scheduler_config.json
demoimgdir = $(pkgdatadir)/demo/img/10_zqx
dist_demoimg_DATA = \
	share/demo/img/10_zqx/zqx_01.png \
	share/demo/img/10_zqx/zqx_01.txt \
	share/demo/img/10_zqx/zqx_02.png \
	share/demo/img/10_zqx/zqx_02.txt \
	share/demo/img/10_zqx/zqx_03.png \
	share/demo/img/10_zqx/zqx_03.txt \
	share/demo/img/10_zqx/zqx_04.png \
	share/demo/img/10_zqx/zqx_04.txt \
	share/demo/img/10_zqx/zqx_05.png \
	share/demo/img/10_zqx/zqx_05.txt \
	share/demo/img/10_zqx/zqx_06.png \
	share/demo/img/10_zqx/zqx_06.txt \
	share/demo/img/10_zqx/zqx_07.png \
	share/demo/img/10_zqx/zqx_07.txt \
	share/demo/img/10_zqx/zqx_08.png \
	share/demo/img/10_zqx/zqx_08.txt \
	share/demo/img/10_zqx/zqx_09.png \
	share/demo/img/10_zqx/zqx_09.txt \
	share/demo/img/10_zqx/zqx_10.png \
	share/demo/img/10_zqx/zqx_10.txt \
	share/demo/img/10_zqx/zqx_11.png \
	share/demo/img/10_zqx/zqx_11.txt \
	share/demo/img/10_zqx/zqx_12.png \
	share/demo/img/10_zqx/zqx_12.txt
