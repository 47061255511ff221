#!/usr/bin/env python3
"""make_pipeline_fixtures.py — golden fixture for the whole txt2img pipeline (tests/test_sample).

The model is the tiny SD1 single file tests/fixtures/checkpoint-sd1/model.safetensors (the
unet-sd1, clip-sd1 and vae-sd fixtures; UNet and VAE stored fp16, so the same fp16-rounded
values are used here). tests/fixtures/pipeline-sd1/ holds what a single file lacks, laid out
like a diffusers folder (loratty --model-config): unet/, text_encoder/, vae/ config.json,
scheduler/scheduler_config.json, and tokenizer/vocab.json + merges.txt — a SMALL vocabulary
(the 512 byte symbols, the first 400 merges of share/clip's list, BOS, EOS: 914 ids) because
the tiny text encoder has 1,000 token embeddings.

diffusers' StableDiffusionPipeline runs each sampler as sd-scripts builds it
(train_util.get_my_scheduler: scaled_linear 0.00085..0.012, the scheduler's other defaults —
steps_offset 0, DDIM's clip_sample on; algorithm_type dpmsolver++) for 4 steps at CFG 6 on FIXED initial latents
(stored; PyTorch's and loratty's random generators differ). Euler a draws fresh noise in every
step: the scheduler's randn_tensor is replaced by stored noise, which the C test feeds back
through sample_params.noise_hook. data.safetensors holds:
  ids / ids_neg          [77] token ids of the prompt and the negative prompt (int32)
  context / context_neg  [77, 32] prompt_embeds as diffusers computes them
  ctx150_skip2           [152, 32] sd-scripts' conditioning of LONG with max_token_length 150,
                         clip_skip 2 (hidden_states[-2] + final LN, windows joined)
  latents                [1, 4, 8, 8] initial noise (before init_noise_sigma)
  euler_a.noise          [4, 1, 4, 8, 8] the noise of each Euler a step
  <sampler>.steps        [4, 1, 4, 8, 8] latents after each step
  <sampler>.image        [1, 3, 16, 16] decoded image in [0, 1]
Run: /work/golden-venv/bin/python tests/golden/make_pipeline_fixtures.py
"""
import gzip
import json
import os
import shutil

import torch
from safetensors.torch import load_file, save_file

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
FIX = os.path.join(TOP, "tests", "fixtures")
OUT = os.path.join(FIX, "pipeline-sd1")
PROMPT = "a photo of a cat on the table"
NEGATIVE = "blurry, low quality"
LONG = ", ".join(["a red house near the river at night"] * 12)
STEPS, CFG = 4, 6.0
N_MERGES = 400


def bytes_to_unicode():
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def write_tokenizer(d):
    os.makedirs(d, exist_ok=True)
    lines = gzip.open(os.path.join(TOP, "share/clip/bpe_simple_vocab_16e6.txt.gz")).read().decode("utf-8").split("\n")
    merges = [tuple(m.split()) for m in lines[1:1 + N_MERGES]]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    with open(os.path.join(d, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({v: i for i, v in enumerate(vocab)}, f, ensure_ascii=False)
    with open(os.path.join(d, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for m in merges:
            f.write(" ".join(m) + "\n")


def copy_config(src, dst):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copyfile(src, dst)


def fp16_rounded(sd):
    return {k: v.half().float() for k, v in sd.items()}


def build():
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    unet = UNet2DConditionModel.from_config(json.load(open(os.path.join(OUT, "unet/config.json"))))
    unet.load_state_dict(fp16_rounded(load_file(os.path.join(FIX, "unet-sd1/weights.safetensors"))))
    vae = AutoencoderKL.from_config(json.load(open(os.path.join(OUT, "vae/config.json"))))
    vae.load_state_dict(fp16_rounded(load_file(os.path.join(FIX, "vae-sd/weights.safetensors"))))
    te = CLIPTextModel(CLIPTextConfig.from_json_file(os.path.join(OUT, "text_encoder/config.json")))
    sd = load_file(os.path.join(FIX, "clip-sd1/weights.safetensors"))
    missing, unexpected = te.load_state_dict(sd, strict=False)
    if missing or unexpected:   # transformers 5 without the text_model level
        sd = {k[len("text_model."):] if k.startswith("text_model.") else k: v for k, v in sd.items()}
        te.load_state_dict(sd, strict=True)
    tok_dir = os.path.join(OUT, "tokenizer")
    tok = CLIPTokenizer(os.path.join(tok_dir, "vocab.json"), os.path.join(tok_dir, "merges.txt"),
                        pad_token="<|endoftext|>", model_max_length=77)
    for m in (unet, vae, te):
        m.eval()
    return unet, vae, te, tok


def scheduler(name):
    from diffusers import (DDIMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler,
                           EulerDiscreteScheduler)
    cls, extra = {"ddim": (DDIMScheduler, {}), "euler": (EulerDiscreteScheduler, {}),
                  "euler_a": (EulerAncestralDiscreteScheduler, {}),
                  "dpmsolver++": (DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver++"})}[name]
    return cls(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
               **extra)


def ids_of(tok, text):
    return tok(text, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids[0]


def sd_scripts_long(te, tok, text, max_len, clip_skip):
    """strategy_sd.py for SD1: windows of BOS + 75 + EOS, hidden_states[-k] + final LN, joined."""
    ids = tok(text, truncation=False).input_ids[1:-1]
    n = max_len // 75
    ids = ids[:max_len]
    bos, eos = tok.bos_token_id, tok.eos_token_id
    windows = []
    for i in range(n):
        chunk = ids[i * 75:(i + 1) * 75]
        w = [bos] + chunk + [eos]
        w += [eos] * (77 - len(w))
        windows.append(w)
    out = te(torch.tensor(windows), output_hidden_states=True)
    h = out.hidden_states[-clip_skip]
    h = te.text_model.final_layer_norm(h) if hasattr(te, "text_model") else te.final_layer_norm(h)
    h = h.reshape(1, -1, h.shape[-1])
    parts = [h[:, 0:1]] + [h[:, i:i + 75] for i in range(1, max_len, 77)] + [h[:, -1:]]
    return torch.cat(parts, dim=1)[0]


def main():
    os.makedirs(OUT, exist_ok=True)
    copy_config(os.path.join(FIX, "unet-sd1/config.json"), os.path.join(OUT, "unet/config.json"))
    copy_config(os.path.join(FIX, "clip-sd1/config.json"), os.path.join(OUT, "text_encoder/config.json"))
    copy_config(os.path.join(FIX, "vae-sd/config.json"), os.path.join(OUT, "vae/config.json"))
    os.makedirs(os.path.join(OUT, "scheduler"), exist_ok=True)
    with open(os.path.join(OUT, "scheduler/scheduler_config.json"), "w") as f:
        json.dump({"_class_name": "DDIMScheduler", "prediction_type": "epsilon"}, f, indent=2)
        f.write("\n")
    write_tokenizer(os.path.join(OUT, "tokenizer"))

    import diffusers.schedulers.scheduling_euler_ancestral_discrete as ea
    from diffusers import StableDiffusionPipeline

    unet, vae, te, tok = build()
    torch.manual_seed(0)
    latents = torch.randn(1, 4, 8, 8)
    noise = torch.randn(STEPS, 1, 4, 8, 8)
    data = {"latents": latents, "euler_a.noise": noise}
    with torch.no_grad():
        data["ids"] = ids_of(tok, PROMPT).to(torch.int32)
        data["ids_neg"] = ids_of(tok, NEGATIVE).to(torch.int32)
        data["context"] = te(data["ids"][None].long())[0][0]
        data["context_neg"] = te(data["ids_neg"][None].long())[0][0]
        data["ctx150_skip2"] = sd_scripts_long(te, tok, LONG, 150, 2)
        for name in ("ddim", "euler", "euler_a", "dpmsolver++"):
            pipe = StableDiffusionPipeline(vae=vae, text_encoder=te, tokenizer=tok, unet=unet,
                                           scheduler=scheduler(name), safety_checker=None,
                                           feature_extractor=None, requires_safety_checker=False)
            # set afterwards, as sd-scripts' sample_image_inference does: the pipeline's
            # constructor would turn DDIM's clip_sample (a diffusers default) off
            pipe.scheduler = scheduler(name)
            pipe.set_progress_bar_config(disable=True)
            steps = []
            drawn = iter(noise)
            ea.randn_tensor = lambda shape, **kw: next(drawn).reshape(shape)

            def on_step(p, i, t, kw):
                steps.append(kw["latents"].clone())
                return kw

            img = pipe(PROMPT, negative_prompt=NEGATIVE, height=16, width=16, num_inference_steps=STEPS,
                       guidance_scale=CFG, latents=latents.clone(), output_type="pt",
                       callback_on_step_end=on_step).images
            data[name + ".steps"] = torch.stack(steps)
            data[name + ".image"] = img
    save_file({k: v.contiguous() for k, v in data.items()}, os.path.join(OUT, "data.safetensors"))
    print("ids", data["ids"][:12].tolist(), "image range", float(data["ddim.image"].min()),
          float(data["ddim.image"].max()))


if __name__ == "__main__":
    main()
