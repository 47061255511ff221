#!/usr/bin/env python3
"""make_prompt_weight_fixtures.py — golden fixture for prompts with attention weights
(tests/test_prompt_embeds): the conditioning of sd-scripts' sample pipeline for SD1/SD2
(library/lpw_stable_diffusion.py) and of --weighted_captions (strategy_base.py
tokenize_with_weights + strategy_sd.py encode_tokens_with_weights), written here from their
formulas and run through transformers' CLIPTextModel.

Model: the tiny SD1 text encoder of tests/fixtures/clip-sd1 (hidden 32, 5 layers) with the small
tokenizer of tests/fixtures/pipeline-sd1 (make_pipeline_fixtures.py), as test_sample loads them
(checkpoint-sd1 + pipeline-sd1). "pad 0" cases use the same model with SD2's tokenizer rule
(pad_token_id 0, the "!" token; loratty: CLIP_PAD_ZERO).

Formulas:
  parse      (x) ×1.1, [x] ×1/1.1, (x:w) ×w, \\( \\) \\[ \\] \\\\ literal, a lone \\ dropped,
             open brackets weigh to the end (round ones first), equal neighbours merged
  tokens     every piece tokenized alone, BOS/EOS dropped, its weight on each token; cut at
             the maximum (225 for samples, max_token_length for captions)
  sample     k = clamp((L - 1) // 75 + 1, 1, 3) for the longest of prompt and negative;
             ids = BOS + tokens + EOS... (75k + 2); window i = ids[75i : 75i + 77] with BOS
             first and EOS last (pad 0: EOS last only over a plain token, EOS after BOS over a
             pad id); states of the k windows concatenated (77k rows; clip_skip 1: last hidden
             state, else hidden_states[-clip_skip] + final LN); each row × its token's weight;
             × mean_before / mean_after (float32 means over the whole [77k, D]); the means are
             taken exactly (float64, then float32) — sd-scripts' x.float().mean() sums in
             float32, and after a final LayerNorm the mean is near 0 (3e-5 of |x| here), so
             its rounding moves the ratio by up to 4e-4: NAME.ctx_f32 holds that variant
  caption    ids = BOS + tokens + EOS + pad... (max_token_length + 2), windows as sd-scripts'
             _get_input_ids, states joined (BOS, 75 per window, last), joined row r × the
             weight of token r - 1; no rescaling

data.safetensors holds, for each case NAME (see CASES):
  NAME.ctx        [B, T, 32] the conditioning (samples: B = 2 with guidance, negative first)
  NAME.ctx_f32    samples: the same with torch's float32 means, as sd-scripts runs it
  NAME.ids        [B, windows, 77] int32 token ids of the windows
Run: /work/golden-venv/bin/python tests/golden/make_prompt_weight_fixtures.py
     [--sd-scripts DIR]   also check this parser against sd-scripts' parse_prompt_attention,
                          loaded from DIR/library/lpw_stable_diffusion.py
"""
import argparse
import ast
import json
import os
import re

import torch
from safetensors.torch import load_file, save_file

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
FIX = os.path.join(TOP, "tests", "fixtures")
OUT = os.path.join(FIX, "prompt-weights")

WEIGHTED = "a (red:1.3) ring, ((masterpiece)), [blurry] on a (gray:0.8) table"
NEGATIVE = "(low quality:1.4), \\(text\\), [[noise]]"
LONG = ", ".join("a (red house:1.2) near [the river] at night" for _ in range(7)) + ", ((stars"
# "!" (id 0, SD2's pad id) as token 75: the first of window 1, the last of window 0
PAD0 = "(" + " ".join(["a"] * 75) + ":1.2) !# [b]"
# kind, prompt, negative (None: no guidance), clip_skip, max_token_length (captions), pad 0
CASES = {
    "sample_cfg": ("sample", WEIGHTED, NEGATIVE, 1, 0, False),
    "sample_plain": ("sample", "a photo of a cat on the table", "blurry, low quality", 1, 0, False),
    "sample_long": ("sample", LONG, NEGATIVE, 2, 0, False),
    "sample_long_neg": ("sample", "a (cat:1.5)", LONG, 1, 0, False),
    "sample_nocfg": ("sample", LONG, None, 1, 0, False),
    "sample_pad0": ("sample", PAD0, NEGATIVE, 1, 0, True),
    "sample_225": ("sample", WEIGHTED, ", ".join([LONG] * 3), 2, 0, False),
    "caption_75": ("caption", WEIGHTED, None, 1, 0, False),
    "caption_150": ("caption", LONG, None, 2, 150, False),
    "caption_225_pad0": ("caption", LONG, None, 1, 225, True),
    "caption_150_cut": ("caption", ", ".join([LONG] * 2), None, 1, 150, False),
}
PARSE_CHECKS = ["normal text", "an (important) word", "(unbalanced", "\\(literal\\]",
                "(unnecessary)(parens)", "a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
                WEIGHTED, NEGATIVE, LONG, "[x (y", "x :1.3) y", "a\\b", "(a:x)", "[a (b] c)"]


def parse(text):
    """The attention syntax, one character class at a time (see the docstring)."""
    out, rounds, squares = [], [], []

    def scale(start, f):
        for p in out[start:]:
            p[1] *= f

    i = 0
    while i < len(text):
        c = text[i]
        m = re.match(r":([+-]?[.0-9]+)\)", text[i:])
        if c == "\\":
            esc = text[i + 1:i + 2]
            out.append([esc if esc in ("(", ")", "[", "]", "\\") and esc else "", 1.0])
            i += 2 if esc in ("(", ")", "[", "]", "\\") and esc else 1
        elif c == "(":
            rounds.append(len(out))
            i += 1
        elif c == "[":
            squares.append(len(out))
            i += 1
        elif m and rounds:
            scale(rounds.pop(), float(m.group(1)))
            i += m.end()
        elif m:
            out.append([m.group(0), 1.0])
            i += m.end()
        elif c == ")" and rounds:
            scale(rounds.pop(), 1.1)
            i += 1
        elif c == "]" and squares:
            scale(squares.pop(), 1 / 1.1)
            i += 1
        elif c in ":)]":
            out.append([c, 1.0])
            i += 1
        else:
            j = i
            while j < len(text) and text[j] not in "\\()[]:":
                j += 1
            out.append([text[i:j], 1.0])
            i = j
    for p in rounds:
        scale(p, 1.1)
    for p in squares:
        scale(p, 1 / 1.1)
    if not out:
        out = [["", 1.0]]
    merged = [out[0]]
    for p in out[1:]:
        if p[1] == merged[-1][1]:
            merged[-1][0] += p[0]
        else:
            merged.append(p)
    return merged


def weighted_tokens(tok, text, limit):
    ids, weights = [], []
    for piece, w in parse(text):
        t = tok(piece).input_ids[1:-1]
        ids += t
        weights += [w] * len(t)
        if len(ids) > limit:
            break
    return ids[:limit], weights[:limit]


def states(te, windows, clip_skip):
    out = te(torch.tensor(windows), output_hidden_states=True)
    if clip_skip <= 1:
        return out.last_hidden_state
    ln = te.text_model.final_layer_norm if hasattr(te, "text_model") else te.final_layer_norm
    return ln(out.hidden_states[-clip_skip])


def mean(x, exact):
    """The float32 mean of x: sd-scripts' x.float().mean() (torch's float32 sum), or exact: the
    float64 mean rounded to float32 once."""
    return x.double().mean().float() if exact else x.float().mean()


def sample_case(te, tok, prompt, negative, clip_skip, pad0, exact=True):
    bos, eos = tok.bos_token_id, tok.eos_token_id
    pad = 0 if pad0 else eos
    texts = [negative, prompt] if negative is not None else [prompt]
    toks = [weighted_tokens(tok, t, 225) for t in texts]
    longest = max(len(ids) for ids, _ in toks)
    k = max(1, min(3, (longest - 1) // 75 + 1))
    ctxs, all_windows = [], []
    for ids, weights in toks:
        full = [bos] + ids + [eos] * (75 * k + 1 - len(ids))
        if k == 1:
            windows = [full]
        else:
            windows = []
            for i in range(k):
                w = full[75 * i:75 * i + 77]
                w[0] = bos
                if pad == eos:
                    w[-1] = full[-1]
                else:
                    if w[-1] not in (eos, pad):
                        w[-1] = eos
                    if w[1] == pad:
                        w[1] = eos
                windows.append(w)
        all_windows.append(windows)
        h = states(te, windows, clip_skip).reshape(-1, 32)   # 77k rows, windows side by side
        row_w = torch.ones(77 * k)
        for i, w in enumerate(weights):
            row_w[77 * (i // 75) + 1 + i % 75] = w
        before, after = mean(h, exact), mean(h * row_w[:, None], exact)
        ctxs.append(h * row_w[:, None] * (before / after))
    return torch.stack(ctxs), torch.tensor(all_windows, dtype=torch.int32)


def caption_case(te, tok, caption, clip_skip, max_token_length, pad0):
    bos, eos = tok.bos_token_id, tok.eos_token_id
    pad = 0 if pad0 else eos
    n_tok = max_token_length or 75
    ids, weights = weighted_tokens(tok, caption, n_tok)
    full = [bos] + ids + [eos] + [pad] * (n_tok - len(ids))
    n = n_tok // 75
    windows = []
    for i in range(n):
        w = [bos] + full[1 + 75 * i:76 + 75 * i] + [full[-1]]
        if pad != eos:
            if w[-2] not in (eos, pad):
                w[-1] = eos
            if w[1] == pad:
                w[1] = eos
        windows.append(w)
    h = states(te, windows, clip_skip)
    joined = torch.cat([h[0, :1]] + [h[i, 1:76] for i in range(n)] + [h[-1, -1:]])
    row_w = torch.ones(joined.shape[0])
    row_w[1:1 + len(weights)] = torch.tensor(weights)
    return (joined * row_w[:, None])[None], torch.tensor([windows], dtype=torch.int32)


def check_against_sd_scripts(path):
    """sd-scripts' own parse_prompt_attention (only that function, from its source file)."""
    src = open(os.path.join(path, "library", "lpw_stable_diffusion.py"), encoding="utf-8").read()
    ns = {"re": re}
    for node in ast.parse(src).body:
        named = isinstance(node, ast.FunctionDef) and node.name == "parse_prompt_attention"
        named |= isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "re_attention" for t in node.targets)
        if named:
            exec(compile(ast.Module([node], []), path, "exec"), ns)
    for text in PARSE_CHECKS:
        assert parse(text) == ns["parse_prompt_attention"](text), text
    print("parser agrees with sd-scripts on", len(PARSE_CHECKS), "prompts")


def build():
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    te = CLIPTextModel(CLIPTextConfig.from_json_file(os.path.join(FIX, "clip-sd1", "config.json")))
    sd = load_file(os.path.join(FIX, "clip-sd1", "weights.safetensors"))
    missing, unexpected = te.load_state_dict(sd, strict=False)
    if missing or unexpected:   # transformers 5 without the text_model level
        sd = {k[len("text_model."):] if k.startswith("text_model.") else k: v for k, v in sd.items()}
        te.load_state_dict(sd, strict=True)
    te.eval()
    tok_dir = os.path.join(FIX, "pipeline-sd1", "tokenizer")
    tok = CLIPTokenizer(os.path.join(tok_dir, "vocab.json"), os.path.join(tok_dir, "merges.txt"),
                        pad_token="<|endoftext|>", model_max_length=77)
    return te, tok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sd-scripts", help="an sd-scripts checkout to check the parser against")
    args = ap.parse_args()
    if args.sd_scripts:
        check_against_sd_scripts(args.sd_scripts)
    te, tok = build()
    data = {}
    with torch.no_grad():
        for name, (kind, text, negative, clip_skip, mtl, pad0) in CASES.items():
            if kind == "sample":
                ctx, ids = sample_case(te, tok, text, negative, clip_skip, pad0)
                data[name + ".ctx_f32"] = sample_case(te, tok, text, negative, clip_skip, pad0, False)[0]
            else:
                ctx, ids = caption_case(te, tok, text, clip_skip, mtl, pad0)
            data[name + ".ctx"], data[name + ".ids"] = ctx, ids
            print(name, "ctx", tuple(ctx.shape), "windows", ids.shape[1])
    os.makedirs(OUT, exist_ok=True)
    save_file({k: v.contiguous() for k, v in data.items()}, os.path.join(OUT, "data.safetensors"))
    with open(os.path.join(OUT, "cases.json"), "w", encoding="utf-8") as f:
        json.dump({k: {"kind": v[0], "prompt": v[1], "negative": v[2], "clip_skip": v[3],
                       "max_token_length": v[4], "pad0": v[5]} for k, v in CASES.items()},
                  f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
