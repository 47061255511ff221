/* test_network.c — the LoRA network's sd-scripts rules on the tiny SD1 U-Net: which modules
 * exist with and without conv_dim, ranks (3x3 convs conv_dim, Linear and 1x1 network_dim),
 * alpha 0 → dim, the init (down within ±1/√fan_in, up 0), max-norm against a brute-force
 * ‖scale·up·down‖, and sd-scripts' file names. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/lora/network.h"


#include "tests/check.h"

static double brute_norm(const lora_network *n, const network_module *m)
{
    size_t cols = (size_t)m->in * m->kernel * m->kernel;
    double s = 0.0;
    for (int o = 0; o < m->out; o++)
        for (size_t c = 0; c < cols; c++) {
            double v = 0.0;
            for (int r = 0; r < m->rank; r++)
                v += (double)n->params[m->up_off + (size_t)o * m->rank + r] *
                     n->params[m->down_off + (size_t)r * cols + c];
            s += v * v;
        }
    return sqrt(s) * m->alpha / m->rank;
}

int main(void)
{
    const char *top = getenv("top_srcdir");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/unet-sd1/config.json", top ? top : ".");
    error_info err = {0};
    unet_config cfg;
    unet_model m;
    if (unet_config_load(&cfg, path, &err) != 0 || unet_build(&m, &cfg, &err) != 0) {
        fprintf(stderr, "FAIL: %s\n", err.message);
        return 1;
    }
    network_options o;
    network_options_init(&o);
    o.dim = 8, o.alpha = 0.0f, o.seed = 3;
    lora_network n;
    CHECK(network_create(&n, &o, &m, NULL, 0, &err) == 0, "%s", err.message);
    size_t transformer_points = 0;
    for (size_t i = 0; i < m.n_points; i++)
        transformer_points += !m.points[i].conv_block;
    CHECK(n.n_mods == transformer_points, "%zu modules without conv_dim, %zu transformer points",
          n.n_mods, transformer_points);
    for (size_t i = 0; i < n.n_mods; i++) {
        const network_module *md = &n.mods[i];
        CHECK(md->rank == 8 && md->alpha == 8.0f, "%s: rank %d alpha %g", md->name, md->rank, md->alpha);
        float bound = 1.0f / sqrtf((float)(md->in * md->kernel * md->kernel));
        size_t nd = (size_t)md->rank * md->in * md->kernel * md->kernel;
        for (size_t j = 0; j < nd; j++)
            CHECK(fabsf(n.params[md->down_off + j]) <= bound, "%s: down out of bound", md->name);
        for (size_t j = 0; j < (size_t)md->out * md->rank; j++)
            CHECK(n.params[md->up_off + j] == 0.0f, "%s: up not zero", md->name);
    }
    network_free(&n);

    o.conv_dim = 2, o.conv_alpha = 1.0f, o.alpha = 4.0f;
    CHECK(network_create(&n, &o, &m, NULL, 0, &err) == 0, "%s", err.message);
    CHECK(n.n_mods == m.n_points, "%zu modules with conv_dim, %zu points", n.n_mods, m.n_points);
    for (size_t i = 0; i < n.n_mods; i++) {
        const network_module *md = &n.mods[i];
        int want = md->conv && md->kernel == 3 ? 2 : 8;
        CHECK(md->rank == want, "%s: rank %d, want %d", md->name, md->rank, want);
        CHECK(md->adapter.scale == md->alpha / md->rank, "%s: scale", md->name);
    }
    const network_module *pin = NULL;
    for (size_t i = 0; i < n.n_mods; i++)
        if (strstr(n.mods[i].name, "attentions_0_proj_in"))
            pin = &n.mods[i];
    CHECK(pin && pin->conv && pin->kernel == 1 && pin->rank == 8, "SD1 proj_in is a 1x1 conv at network_dim");

    /* max-norm: make the products large, then compare with brute force */
    for (size_t i = 0; i < n.n_mods; i++)
        for (size_t j = 0; j < (size_t)n.mods[i].out * n.mods[i].rank; j++)
            n.params[n.mods[i].up_off + j] = (float)((j * 7 + i) % 13) / 13.0f - 0.4f;
    double before = brute_norm(&n, &n.mods[0]);
    double mean, mx;
    int scaled = network_apply_max_norm(&n, 0.5f, &mean, &mx);
    CHECK(scaled > 0, "nothing scaled");
    for (size_t i = 0; i < n.n_mods; i++) {
        double b = brute_norm(&n, &n.mods[i]);
        CHECK(b <= 0.5 * (1 + 1e-5), "%s: norm %g after max-norm 0.5", n.mods[i].name, b);
    }
    CHECK(fabs(mx - 0.5) < 1e-5 || before <= 0.5, "max norm %g", mx);
    network_free(&n);
    unet_free(&m);

    /* full-size layouts (no weights): sd-scripts' module counts, 192 SD1 and 722 SDXL U-Net
     * modules; LoKr with conv_dim (LyCORIS full on SD1, networks.lokr on SDXL) adds the ResNet /
     * sampler children, LyCORIS on SD1 also conv_in / conv_out / time_embedding.linear_1/2 */
    for (int sdxl = 0; sdxl < 2; sdxl++) {
        unet_config fc;
        unet_model fm;
        if (sdxl)
            unet_config_sdxl_base(&fc);
        else
            unet_config_sd15(&fc);
        if (unet_build_layout(&fm, &fc, &err) != 0) {
            CHECK(0, "%s", err.message);
            continue;
        }
        network_options fo;
        network_options_init(&fo);
        fo.dim = 1;
        CHECK(network_create(&n, &fo, &fm, NULL, 0, &err) == 0, "%s", err.message);
        CHECK(n.n_mods == (sdxl ? 722u : 192u), "%s: %zu LoRA modules", sdxl ? "SDXL" : "SD1", n.n_mods);
        network_free(&n);
        CHECK(network_options_set_module(&fo, sdxl ? "networks.lokr" : "lycoris.kohya", "lokr", &err) == 0, "set");
        fo.conv_dim = 1;
        CHECK(network_create(&n, &fo, &fm, NULL, 0, &err) == 0, "%s", err.message);
        size_t extras = 0;
        for (size_t i = 0; i < n.n_mods; i++)
            extras += strstr(n.mods[i].name, "conv_in") || strstr(n.mods[i].name, "time_embedding");
        CHECK(n.n_mods == fm.n_points + (sdxl ? 0u : 4u) && extras == (sdxl ? 0u : 3u),
              "%s LoKr: %zu modules, %zu points", sdxl ? "SDXL" : "SD1", n.n_mods, fm.n_points);
        printf("%s: %zu LoRA points; LoKr with convs %zu modules\n", sdxl ? "SDXL" : "SD1", fm.n_points, n.n_mods);
        network_free(&n);
        unet_free(&fm);
    }

    char stem[256];
    network_file_stem(stem, sizeof stem, "dog", 0, 0);
    CHECK(!strcmp(stem, "dog"), "%s", stem);
    network_file_stem(stem, sizeof stem, "dog", 1, 3);
    CHECK(!strcmp(stem, "dog-000003"), "%s", stem);
    network_file_stem(stem, sizeof stem, "dog", 2, 150);
    CHECK(!strcmp(stem, "dog-step00000150"), "%s", stem);
    network_file_stem(stem, sizeof stem, "", 0, 0);
    CHECK(!strcmp(stem, "last"), "%s", stem);
    network_file_stem(stem, sizeof stem, NULL, 1, 2);
    CHECK(!strcmp(stem, "epoch-000002"), "%s", stem);
    network_file_stem(stem, sizeof stem, "", 2, 100);
    CHECK(!strcmp(stem, "at-step00000100"), "%s", stem);
    if (failures)
        return 1;
    printf("ok\n");
    return 0;
}
