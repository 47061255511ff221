#!/usr/bin/env python3
"""make_sampler_fixtures.py — golden trajectories of the sample-image samplers (tests/test_samplers_golden).

Each diffusers scheduler is built as sd-scripts' train_util.get_my_scheduler builds it
(scaled_linear 0.00085..0.012 over 1000 steps, the scheduler's other defaults,
prediction_type v_prediction for v models, steps_offset 0, and config.clip_sample forced on where
the config has it off — which switches HeunDiscreteScheduler's x0 clamp to [-1, 1] on; DDIM clips
by default) and driven the way
sd-scripts' StableDiffusionLongPromptWeightingPipeline drives it: x = latents·init_noise_sigma,
then for every t in scheduler.timesteps: x = step(model(scale_model_input(x, t), t), t, x).

The model is a fixed linear function, so no network is needed:
    model(x_in, t) = A·x_in + (B + C·t / 1000)·u,   u_j = sin(1.3·j + 0.5)
with A, B, C in the tensor model_coef.

One deviation from sd-scripts: "dpmsolver" (DPMSolverMultistepScheduler, algorithm_type
dpmsolver) gets final_sigmas_type "sigma_min". diffusers since 0.26 (sd-scripts pins 0.32.1)
refuses algorithm_type dpmsolver with the default final_sigmas_type "zero", so sd-scripts'
dpmsolver fails there; sigma_min is the only setting diffusers accepts for it and is what
diffusers 0.25 (sd-scripts' pin until 2025) did: the last step ends at the sigma of t = 0.

The ancestral samplers (euler_a, dpm_2_a) draw their noise from the stored tensor `noise`
(row i for the i-th draw: Euler a draws at every step, DPM2 a at the second model call of
every step but the last), which the C test feeds back through the sampler's noise hook.

Writes tests/fixtures/samplers/trajectories.safetensors:
  latents      [N] the initial noise (before init_noise_sigma)
  noise        [20, N] the ancestral samplers' noise, row per draw
  u            [N] the model's fixed direction;  model_coef [3] A, B, C
  <pred>.<sampler>.<steps>.t      [calls] the timestep given to the model at each call
  <pred>.<sampler>.<steps>.x      [calls, N] the latents after each scheduler.step call
  <pred>.<sampler>.<steps>.sigma0 [1] init_noise_sigma
for pred in eps, v; sampler in pndm (4, 7, 20 steps: PNDMScheduler fails below 4 steps as
sd-scripts configures it), ddim, lms, heun, dpm_2, dpm_2_a, dpmsolver, dpmsingle, euler, euler_a,
dpmsolver++ (1, 2, 7, 20 steps).
Run: /work/golden-venv/bin/python tests/golden/make_sampler_fixtures.py
(diffusers 0.42.1, torch; LMSDiscreteScheduler needs scipy for its coefficients.)
"""
import math
import os

import torch
from safetensors.torch import save_file
import diffusers.schedulers.scheduling_euler_ancestral_discrete as euler_a_module
import diffusers.schedulers.scheduling_k_dpm_2_ancestral_discrete as dpm2a_module
from diffusers import (DDIMScheduler, DPMSolverMultistepScheduler, DPMSolverSinglestepScheduler,
                       EulerAncestralDiscreteScheduler, EulerDiscreteScheduler, HeunDiscreteScheduler,
                       KDPM2AncestralDiscreteScheduler, KDPM2DiscreteScheduler, LMSDiscreteScheduler, PNDMScheduler)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "samplers")
N = 24
A, B, C = 0.8, 0.3, 0.4
STEPS = (1, 2, 7, 20)
PNDM_STEPS = (4, 7, 20)
SAMPLERS = ("ddim", "pndm", "lms", "heun", "dpm_2", "dpm_2_a", "dpmsolver", "dpmsingle", "euler", "euler_a", "dpmsolver++")


def get_my_scheduler(name, v_pred):
    """sd-scripts' train_util.get_my_scheduler (plus final_sigmas_type for dpmsolver, see above)."""
    classes = {"ddim": DDIMScheduler, "pndm": PNDMScheduler, "lms": LMSDiscreteScheduler, "euler": EulerDiscreteScheduler,
               "euler_a": EulerAncestralDiscreteScheduler, "dpmsolver": DPMSolverMultistepScheduler,
               "dpmsolver++": DPMSolverMultistepScheduler, "dpmsingle": DPMSolverSinglestepScheduler,
               "heun": HeunDiscreteScheduler, "dpm_2": KDPM2DiscreteScheduler,
               "dpm_2_a": KDPM2AncestralDiscreteScheduler}
    args = {}
    if name in ("dpmsolver", "dpmsolver++"):
        args["algorithm_type"] = name
    if name == "dpmsolver":
        args["final_sigmas_type"] = "sigma_min"
    if v_pred:
        args["prediction_type"] = "v_prediction"
    s = classes[name](num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                      **args)
    if hasattr(s.config, "clip_sample") and s.config.clip_sample is False:
        s.config.clip_sample = True   # as sd-scripts does: an attribute of the FrozenDict the step reads
    return s


def run(name, v_pred, steps, latents, u, noise):
    s = get_my_scheduler(name, v_pred)
    s.set_timesteps(steps, device="cpu")
    draws = iter(noise)
    fake = lambda shape, **kw: next(draws).reshape(shape).clone()
    euler_a_module.randn_tensor = fake
    dpm2a_module.randn_tensor = fake
    x = latents * s.init_noise_sigma
    ts, xs = [], []
    for t in s.timesteps:
        x_in = s.scale_model_input(x, t)
        out = A * x_in + (B + C * t.to(torch.float32) / 1000) * u
        x = s.step(out, t, x).prev_sample
        ts.append(float(t))
        xs.append(x.clone())
    sigma0 = torch.tensor([float(s.init_noise_sigma)], dtype=torch.float32)
    return torch.tensor(ts, dtype=torch.float32), torch.stack(xs).to(torch.float32), sigma0


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    latents = torch.randn(N)
    noise = torch.randn(20, N)
    u = torch.tensor([math.sin(1.3 * j + 0.5) for j in range(N)], dtype=torch.float32)
    data = {"latents": latents, "noise": noise, "u": u, "model_coef": torch.tensor([A, B, C], dtype=torch.float32)}
    for pred, v_pred in (("eps", False), ("v", True)):
        for name in SAMPLERS:
            for steps in PNDM_STEPS if name == "pndm" else STEPS:
                t, x, sigma0 = run(name, v_pred, steps, latents, u, noise)
                key = f"{pred}.{name}.{steps}"
                data[key + ".t"], data[key + ".x"], data[key + ".sigma0"] = t, x, sigma0
                print(f"{key}: {len(t)} calls, |x| max {x.abs().max():.3g}, last max {x[-1].abs().max():.3g}")
    save_file({k: v.contiguous() for k, v in data.items()}, os.path.join(OUT, "trajectories.safetensors"))


if __name__ == "__main__":
    main()
