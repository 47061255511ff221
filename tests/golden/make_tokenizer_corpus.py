#!/usr/bin/env python3
"""make_tokenizer_corpus.py — golden data for loratty's CLIP BPE tokenizer.

Writes, deterministically:
  engine/models/tokenizer_unicode.inc   Unicode tables the C tokenizer needs, taken from the
                                        very functions the Python tokenizer calls (unicodedata
                                        for NFC/lower, the `regex` module for whitespace_clean's
                                        \s and, compiled with IGNORECASE, the pattern's classes).
  engine/models/tokenizer_ftfy.inc      ftfy's own tables and regexes for the C fix_text
                                        (written by tokenizer_ftfy_tables.py, beside this file).
  (a temporary vocab.json + merges.txt: transformers' files built from share/clip's gz the way
   open_clip's SimpleTokenizer builds its vocabulary; not kept, they are 1.5 MB and
   test_tokenizer rebuilds them the same way to test the diffusers-folder loader.)
  tests/fixtures/tokenizer/corpus.jsonl one caption a line with the expected ids.
  tests/fixtures/tokenizer/ftfy.jsonl   texts for fix_text alone, {"text", "fixed"}: the
                                        targeted FTFY_CASES, then mojibake (made here by
                                        mis-decoding UTF-8) and random strings of the characters
                                        ftfy's heuristics look at.

Oracle: transformers' *slow* CLIPTokenizer (the Python one sd-scripts uses; sd-scripts pins
transformers==4.54.1) with ftfy installed, as sd-scripts' requirements.txt has it (ftfy==6.3.1):
CLIPTokenizer then cleans text as whitespace_clean(ftfy.fix_text(text)).lower(). transformers 5
dropped the slow tokenizer (its CLIPTokenizer is the Rust-backed one), so run this with a venv
of its own:
    python3 -m venv /tmp/tok-venv
    /tmp/tok-venv/bin/pip install transformers==4.54.1 regex==2026.11.15 ftfy==6.3.1
    /tmp/tok-venv/bin/python tests/golden/make_tokenizer_corpus.py
The script also prints how many captions the no-ftfy path (BasicTokenizer) would tokenize
differently, for the record.
"""
import gzip
import json
import os
import random
import shutil
import tempfile
import sys
import unicodedata

import ftfy
import regex
import transformers
from transformers import CLIPTokenizer
from transformers.models.bert.tokenization_bert import BasicTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tokenizer_ftfy_tables import write_ftfy_tables  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GZ = os.path.join(TOP, "share/clip/bpe_simple_vocab_16e6.txt.gz")
FIX = os.path.join(TOP, "tests/fixtures/tokenizer")
INC = os.path.join(TOP, "engine/models/tokenizer_unicode.inc")
INC_FTFY = os.path.join(TOP, "engine/models/tokenizer_ftfy.inc")
FTFY_VERSION = "6.3.1"  # sd-scripts' requirements.txt
MAXCP = 0x110000


# ---------------------------------------------------------------- vocabulary (open_clip's way)
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


def write_hf_files(dirname):
    lines = gzip.open(GZ).read().decode("utf-8").split("\n")
    merges = [tuple(m.split()) for m in lines[1:49152 - 256 - 2 + 1]]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    with open(os.path.join(dirname, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({v: i for i, v in enumerate(vocab)}, f, ensure_ascii=False)
    with open(os.path.join(dirname, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for m in merges:
            f.write(" ".join(m) + "\n")
    return len(vocab), len(merges)


# ---------------------------------------------------------------- Unicode tables for the C side
def ranges(pred):
    out, start = [], None
    for cp in range(MAXCP + 1):
        ok = cp < MAXCP and pred(cp)
        if ok and start is None:
            start = cp
        elif not ok and start is not None:
            out.append((start, cp - 1))
            start = None
    return out


def emit_ranges(f, name, rs, comment):
    f.write(f"/* {comment} */\nstatic const uint32_t {name}[][2] = {{\n")
    for i in range(0, len(rs), 6):
        f.write("    " + " ".join(f"{{0x{a:X},0x{b:X}}}," for a, b in rs[i:i + 6]) + "\n")
    f.write("};\n\n")


def is_surrogate(cp):
    return 0xD800 <= cp <= 0xDFFF


def write_tables():
    I = regex.IGNORECASE
    letter = regex.compile(r"[\p{L}]", I)
    number = regex.compile(r"[\p{N}]", I)
    other = regex.compile(r"[^\s\p{L}\p{N}]", I)
    cat = unicodedata.category
    with open(INC, "w") as f:
        f.write("/* tokenizer_unicode.inc — generated by tests/golden/make_tokenizer_corpus.py; do not"
                " edit.\n * unicodedata %s (Python %d.%d), regex %s. Ranges are inclusive and sorted."
                " */\n\n" % (unicodedata.unidata_version, sys.version_info[0], sys.version_info[1],
                             regex.__version__))
        emit_ranges(f, "uc_letter", ranges(lambda c: not is_surrogate(c) and letter.match(chr(c))),
                    "[\\p{L}] under IGNORECASE")
        emit_ranges(f, "uc_number", ranges(lambda c: not is_surrogate(c) and number.match(chr(c))),
                    "[\\p{N}] under IGNORECASE")
        emit_ranges(f, "uc_other", ranges(lambda c: not is_surrogate(c) and other.match(chr(c))),
                    "[^\\s\\p{L}\\p{N}] under IGNORECASE")
        # whitespace_clean's re.sub(r"\s+", " ", ...) (the regex module's \s)
        space = regex.compile(r"\s")
        emit_ranges(f, "uc_space", ranges(lambda c: not is_surrogate(c) and space.match(chr(c))),
                    "\\s of the regex module (whitespace_clean)")
        emit_ranges(f, "uc_split", ranges(lambda c: chr(c).isspace()), "str.isspace(): str.strip()")
        # IGNORECASE equivalents of the ASCII letters in the pattern's literals
        f.write("/* code points matching each of 'a'..'z' under IGNORECASE (0-terminated) */\n"
                "static const uint32_t uc_fold[26][4] = {\n")
        for ch in "abcdefghijklmnopqrstuvwxyz":
            p = regex.compile(regex.escape(ch), I)
            eq = [c for c in range(MAXCP) if not is_surrogate(c) and p.fullmatch(chr(c))]
            assert len(eq) <= 3, (ch, eq)
            f.write("    {" + ", ".join(f"0x{c:X}" for c in eq + [0] * (4 - len(eq))) + "},\n")
        f.write("};\n\n")
        # str.lower() (full mapping: U+0130 gives two code points)
        low = [(c, [ord(x) for x in chr(c).lower()]) for c in range(MAXCP)
               if not is_surrogate(c) and chr(c).lower() != chr(c)]
        assert all(len(t) <= 2 for _, t in low)
        f.write("/* str.lower(): code point, then 1 or 2 code points (0 = none) */\n"
                "static const uint32_t uc_lower[][3] = {\n")
        for i in range(0, len(low), 5):
            f.write("    " + " ".join(f"{{0x{c:X},0x{t[0]:X},0x{t[1] if len(t) > 1 else 0:X}}},"
                                      for c, t in low[i:i + 5]) + "\n")
        f.write("};\n\n")
        # str.lower() turns U+03A3 into final sigma after a cased letter not followed by one,
        # skipping case-ignorable code points both ways; probe both properties through lower()
        def ign(c):
            return (("A" + chr(c) + "\u03a3").lower()[-1] == "\u03c2" and
                    ("A\u03a3" + chr(c)).lower()[1] == "\u03c2")
        emit_ranges(f, "uc_case_ignorable", ranges(lambda c: not is_surrogate(c) and ign(c)),
                    "Case_Ignorable, as str.lower() sees it for final sigma")
        emit_ranges(f, "uc_cased", ranges(lambda c: not is_surrogate(c) and not ign(c) and
                                          (" " + chr(c) + "\u03a3").lower()[-1] == "\u03c2"),
                    "Cased (not case-ignorable), as str.lower() sees it for final sigma")
        # NFC: full canonical decompositions (Hangul syllables are algorithmic), combining
        # classes, primary composites.
        dec = []
        for c in range(MAXCP):
            if is_surrogate(c) or 0xAC00 <= c <= 0xD7A3:
                continue
            d = unicodedata.normalize("NFD", chr(c))
            if d != chr(c):
                dec.append((c, [ord(x) for x in d]))
        assert all(len(d) <= 4 for _, d in dec)
        f.write("/* full canonical decomposition: code point, then up to 4 (0 = none) */\n"
                "static const uint32_t uc_decomp[][5] = {\n")
        for i in range(0, len(dec), 3):
            f.write("    " + " ".join("{0x%X,%s}," % (c, ",".join("0x%X" % x for x in d + [0] * (4 - len(d))))
                                      for c, d in dec[i:i + 3]) + "\n")
        f.write("};\n\n")
        cc, start, prev = [], None, 0
        for c in range(MAXCP + 1):
            v = unicodedata.combining(chr(c)) if c < MAXCP and not is_surrogate(c) else 0
            if start is not None and (v != prev or c != last + 1):
                cc.append((start, last, prev))
                start = None
            if v and start is None:
                start = c
            if v:
                last = c
            prev = v
        f.write("/* canonical combining class: first, last, class */\n"
                "static const uint32_t uc_ccc[][3] = {\n")
        for i in range(0, len(cc), 4):
            f.write("    " + " ".join(f"{{0x{a:X},0x{b:X},{v}}}," for a, b, v in cc[i:i + 4]) + "\n")
        f.write("};\n\n")
        comp = []
        for c in range(MAXCP):
            if is_surrogate(c):
                continue
            d = unicodedata.decomposition(chr(c)).split()
            if len(d) == 2 and not d[0].startswith("<"):
                a, b = int(d[0], 16), int(d[1], 16)
                if unicodedata.normalize("NFC", chr(a) + chr(b)) == chr(c):
                    comp.append((a, b, c))
        comp.sort()
        f.write("/* primary composites: first, second, composite (sorted) */\n"
                "static const uint32_t uc_compose[][3] = {\n")
        for i in range(0, len(comp), 4):
            f.write("    " + " ".join(f"{{0x{a:X},0x{b:X},0x{c:X}}}," for a, b, c in comp[i:i + 4]) + "\n")
        f.write("};\n")


# ---------------------------------------------------------------- corpus
WORDS = ("a photo of cat dog woman man girl boy portrait landscape mountain river sky city night "
         "street painting by artist detailed highly realistic cinematic lighting sunset beach "
         "forest castle dragon robot spaceship flowers garden rain snow winter summer red blue "
         "green golden silver black white long short hair eyes smile dress armor sword anime "
         "style illustration octane render trending artstation 8k uhd sharp focus bokeh soft "
         "wearing holding standing sitting looking at viewer background simple indoor outdoor "
         "the and with in on of under over through beautiful cute ugly tiny huge ancient modern "
         "futuristic cyberpunk steampunk watercolor oil sketch unreal engine photography").split()
TAGS = ("1girl, solo, blue hair, long_hair, masterpiece, best quality, looking_at_viewer, "
        "smile, open mouth, school uniform, outdoors, sky, cloud, day, 2boys, multiple girls, "
        "absurdres, highres, thighhighs, red eyes, white background, simple background, "
        "hatsune miku, :d, ^_^, >_<, o_o, :3, ;), (x), \\(cosplay\\), score_9, score_8_up, "
        "rating:safe, zqx").split(", ")
UNI = ["café", "naïve", "résumé", "Ångström", "Straße", "façade", "crème brûlée", "São Paulo",
       "Zürich", "Ærøskøbing", "jalapeño", "coöperate", "Łódź", "İstanbul", "ǅungla", "ſtraße",
       "猫", "東京タワー", "桜の木の下で", "漢字かな交じり文", "한국어 글자", "中文测试，你好！",
       "кошка", "Москва", "ПРИВЕТ МИР", "Ελληνικά", "ΣΊΣΥΦΟΣ", "قطة سوداء", "חתול", "แมว",
       "नमस्ते", "ᚠᚢᚦ", "𝒜𝓁𝓅𝒽𝒶", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "😀", "🐱", "👩‍👩‍👧", "❤️", "🇯🇵", "👍🏽",
       "✨", "★☆", "♪", "→", "©", "™", "°C", "µm", "½", "²", "٣", "Ⅷ", "ⅷ", "①", "Ⓐ", "ⓐ",
       "１２３", "ＡＢＣ", "ﬁsh", "ﬂower", "e\u0301", "A\u030A", "n\u0303o", "\u1100\u1161\u11A8",
       "\u0345", "K", "Ω", "Å", "ℌ", "\u2028", "\u2029", "\u00A0", "\u3000", "\u200B", "\u200D",
       "\u00AD", "\uFEFF", "\uFFFD", "\x00", "\x07", "\x1b", "\x85", "\uE000", "\U000E0041"]
FIXED = [
    "a photo of a cat", "", " ", "   \t\n ", "!", "!!!", "a!", "hello world", "Hello, World!",
    "it's", "don't", "we're", "they've", "I'm", "you'll", "he'd", "girl's dress", "O'Neil",
    "'quoted'", "’curly’", "can’t", "IT'S", "'S", "'ſ", "''s", "rock'n'roll", "'''",
    "(masterpiece:1.2), (best quality:1.1), 1girl", "[cat|dog]", "((masterpiece))",
    "ΣΑΣ ΟΔΟΣ. Σ ΑΣ' ΑΣ\u0345 ΑΣΑ 'Σ ΑΣΣ",
    "{red|blue} hair", "<lora:my_lora:0.8>", "<lyco:foo-bar_v2:1>", "a [[[very]]] cat",
    "https://example.com/a?b=c&d=e#frag", "www.example.org/path/to/image.png",
    "user@example.com", "3.14159", "1,000,000", "2024-01-31", "12:30pm", "x86_64", "v1.5",
    "1girl, solo, blue hair", "1girl,solo,blue_hair", "tab\tseparated\tcaption",
    "line one\nline two\r\nline three", "double  space", "nbsp\u00A0here", "ideo\u3000space",
    "zero\u200Bwidth", "e\u0301cole", "ÉCOLE", "École", "<|endoftext|>", "<|startoftext|>",
    "a<|endoftext|>b", "!<|endoftext|>", "<|ENDOFTEXT|>", "!<|ENDOFTEXT|>",
    "<|startoftext|>a photo<|endoftext|>", "<|endoftext", "<|ſtartoftext|>", "&amp; &lt;b&gt;",
    "hello\x00world", "bell\x07", "replacement\uFFFDchar", "K kelvin", "ǅ ǆ Ǆ", "İi ıI",
    "ΣΑΣ", "ﬁﬂ", "ＡＢＣ１２３", "𝒜𝓁𝓅𝒽𝒶", "👩‍👩‍👧 family", "flag 🇯🇵 and 👍🏽",
    "word" * 30, "a" * 300, "ab " * 100, "!" * 200, "1234567890" * 5, "猫" * 40,
]


def make_corpus(rng):
    texts = list(FIXED)
    for i in range(960):
        kind = i % 8
        n = rng.choice([1, 2, 3, 4, 5, 8, 12, 20, 40, 70]) if kind != 7 else rng.randint(60, 170)
        parts = []
        for _ in range(n):
            r = rng.random()
            if kind in (0, 7) or r < 0.45:
                w = rng.choice(WORDS)
            elif r < 0.6:
                w = rng.choice(TAGS)
            elif r < 0.8:
                w = rng.choice(UNI)
            elif r < 0.88:
                w = "(%s:%.1f)" % (rng.choice(WORDS), rng.uniform(0.5, 1.5))
            elif r < 0.93:
                w = "[%s|%s]" % (rng.choice(WORDS), rng.choice(WORDS))
            else:
                w = rng.choice(["it's", "don't", "'re", "'ve", "I'm", "we'll", "she'd", "!", "?",
                                "...", "--", "#1", "@", "$5", "100%", "a.b", "'", "\"", "`"])
            if rng.random() < 0.3:
                w = w.upper() if rng.random() < 0.5 else w.capitalize()
            parts.append(w)
        seps = [" ", ", ", ",", " ", " ", "  ", "\t", "\n", "、", " | "]
        text = parts[0]
        for p in parts[1:]:
            text += (rng.choice(seps) if kind != 3 else ", ") + p
        if kind == 5:
            text = " " + text + "  "
        texts.append(text)
    return texts


# ftfy.fix_text's steps, one group each (the C side must get each exactly)
FTFY_CASES = [
    # uncurl_quotes
    "\u201cquoted\u201d \u2018single\u2019 it\u2019s", "\u201breversed\u201f \u02bcmodifier",
    "Don\u2019t, can\u2019t, we\u2019re, I\u2019M", "\u2018S \u201a\u201e low quotes",
    # fix_latin_ligatures
    "\ufb01sh \ufb02ower \ufb00 \ufb03 \ufb04 \ufb05 \ufb06", "\u0132ssel \u0133s \u0149",
    "\u01c4 \u01c5 \u01c6 \u01c7 \u01c8 \u01c9 \u01ca \u01cb \u01cc \u01f1 \u01f2 \u01f3",
    # fix_character_width
    "\uff2c\uff2f\uff35\uff24\u3000\uff2e\uff2f\uff29\uff33\uff25\uff33", "\uff35\uff80\uff70\uff9d",
    "\uffe3 \uffe0\uffe1\uffe5\uffe6 \uffa1\uffa4\uffe8", "\uff1c\uff5cendoftext\uff5c\uff1e",
    "\uff11\uff12\uff13\uff05 \uff08\uff41\uff42\uff43\uff09\uff01\uff1f",
    # unescape_html, with and without '<' (a '<' turns it off for that line and every later one)
    "&amp; &lt;b&gt;", "Broken text&hellip; it&#x2019;s \ufb02ubberi\ufb01c!", "P&EACUTE;REZ",
    "BUNDESSTRA&SZLIG;E", "&ntilde; &Ntilde; &NTILDE; &nTILDE;", "&#59; &#x3b; &semi; &SEMI;",
    "&#0; &#x80; &#150; &#x9D; &#1; &#xFDD0; &#xFFFF; &#13;", "&#xD800; &#1114112; &#99999999999999999999999;",
    "&#65x; &#x; &#xZZ; &#; &#x41; &#X42; &#0067;", "&amp;amp; &amp;lt;tag&amp;gt; &AMP;quot;",
    "&notanentity; &not; this&not that &not", "a&nbsp;b &NBSP; c", "&abcdefghijklmnopqrstuvwxyz;",
    "&CounterClockwiseContourIntegral; &Jscr;ohn &HilbertSpace;ancock", "&NotEqualTilde; &nvlt; &fjlig;",
    "&lt;tag&gt; <b>", "<b>&amp;</b>", "line1 &amp;\nline2 <x> &amp;\nline3 &amp;",
    "first &amp;\n<second> &amp;\nthird &eacute;", "&lt;|endoftext|&gt; &lt;|startoftext|&gt;",
    "&#x1F600; &#128512; &#x1f600", "&amp&amp; &&amp;; &#38;amp;",
    # remove_terminal_escapes
    "\x1b[36;44mI'm blue, da ba dee\x1b[0m", "\x1b[1;31mred\x1b[m \x1b[;;H", "\x1b[\u0661m arabic digit",
    "\x1b[12 unterminated", "\x1b]0;title\x07 osc", "\x1b[3\uff11m fullwidth digit",
    # remove_control_chars
    "a\x00b\x01c\x08d\x0be\x0ef\x1fg\x7fh\ti\x0cj", "\u206a\u206b\u206f deprecated \u2070",
    "\ufeffbom and \ufeff inside", "\ufff9\ufffa\ufffb\ufffc annot", "\u200b\u200c\u200d\u200e\u200f\u202a",
    "\U000E0041 tag \U0001D173", "\x1c\x1d\x1e\x1f at ends\x1c",
    # fix_line_breaks (fix_text also cuts segments at each "\n")
    "a\r\nb\rc\u2028d\u2029e\x85f", "\r\n\r\n", "trailing\r", "\n\nlead and trail\n\n",
    # fix_c1_controls, Latin-1 read as Windows-1252
    "\x80\x81\x8d\x9f", "caf\x82 \x93quoted\x94", "euro \x80 sign \x99", "\x85 ellipsis",
    # NFC
    "e\u0301cole", "A\u030a \u212b \u2126 \u212a", "\u1100\u1161\u11a8 \u0958 \u0344",
    "a\u0328\u0301 a\u0301\u0328", "\ufb03\u0301 \u00c5\u0301",
    # fix_encoding: mojibake ftfy repairs (and text it must leave alone)
    "\u00e2\u0153\u201d No problems", "&macr;\\_(\u00e3\x83\x84)_/&macr;", "sch\u00c3\u00b6n",
    "s\u00c3\u00b3", "voil\u00c3 le travail", "\u00c3 la mode", "\u00c3 quele \u00c3 s p",
    "f\u00c3 cil", "\u00e2\u20ac\u0153 like this \u00e2\u20ac\ufffd",
    "\u00d0\u00bf\u00d1\u20ac\u00d0\u00b8\u00d0\u00b2\u00d0\u00b5\u00d1\u201a",
    "\u00e6\u2014\u00a5\u00e6\u0153\u00ac\u00e8\u00aa\u017e", "\u00f0\u0178\u02dc\u20ac emoji",
    "caf\u00c3\u00a9 and caf\u00e9", "The Mona Lisa doesn\u00c3\u0192\u00c2\u00a2\u00c3\u00a2\u00e2\u20ac\u0161"
    "\u00c2\u00ac\u00c3\u00a2\u00e2\u20ac\u017e\u00c2\u00a2t have eyebrows.",
    "\u221a\u00a9t\u221a\u00a9 macroman", "\u0420\u0457\u0421\u0402\u0420\u0451\u0420\u0406", "cr\u00e8me br\u00fbl\u00e9e",
    "\u00ed\u00a0\u00bd\u00ed\u00b8\u20ac cesu", "null \u00c0\x80 java", "\u00c0\n",
    "\u00a1\u00bfQu\u00e9?! \u00bd \u00b0C \u00a9 \u2122 \u00ae \u00b5m", "\u2554\u2550\u2557 box \u2551 \u00f6",
    # utf-8-variants' `$` also matches before a final "\n": C0 0A and a CESU-8 pair ending in
    # 0A decode at the end of a segment (eating its newline); restore_byte_a0's exceptions;
    # BADNESS_RE's [a-z]\s?[ÃÂ][ ]
    "\u00c3\u00a9 \u00c0\n", "\u00c3\u00a9 \u00c0\nnext line", "\u00c3\u00a9\u00ed\xa0\x80\u00ed\u00b0\n",
    "\u00c3\u00a9\u00ed\xa0\x80\u00ed\u00b0\nnext", "\u00c3\u00a9 \u00c3 sala", "voil\u00c3 sa",
    "\u00c3 quela \u00c3 quilo \u00c3 s \u00c3  x \u00c3 quelo", "eyes \u00c2 nbsp", "at oil \u00c3  la mode",
]


# Mojibake to check fix_encoding against: UTF-8 of real text read in a charmap ftfy knows,
# sometimes with its 0xA0 bytes turned into spaces, its undecodable bytes into U+FFFD, twice
# over, or embedded in correct text; plus random strings of the characters ftfy's regexes name.
MOJI_SOURCE = ["café", "naïve", "résumé", "Ångström", "Straße", "façade", "crème brûlée", "São Paulo",
               "Zürich", "Łódź", "İstanbul", "кошка", "Москва", "Ελληνικά", "東京タワー", "猫の木",
               "한국어", "😀", "🐱 cat", "👍🏽", "“quoted”", "it’s", "—dash–", "…", "€5", "½ cup",
               "à la mode", "à", "à la", "×²", "ŉ", "ﬁsh", "ＡＢＣ", "\u00a0nbsp", "中文", "٣ arabic",
               "أهلا", "שלום", "नमस्ते", "ไทย", "ñ", "Ñoño", "\U00010348", "¿qué?", "žluťoučký kůň"]
MOJI_ENCODINGS = ["latin-1", "sloppy-windows-1252", "sloppy-windows-1251", "sloppy-windows-1250",
                  "sloppy-windows-1253", "sloppy-windows-1254", "sloppy-windows-1257", "iso-8859-2",
                  "macroman", "cp437", "windows-1252"]


def mojibake(rng, text):
    enc = rng.choice(MOJI_ENCODINGS)
    raw = text.encode("utf-8", "surrogatepass")
    if rng.random() < 0.1:  # CESU-8 / Java's null
        raw = "".join(c if ord(c) < 0x10000 else c.encode("utf-16-le", "surrogatepass").decode(
            "utf-16-le", "surrogatepass") for c in text).encode("utf-8", "surrogatepass")
        raw = raw.replace(b"\x00", b"\xc0\x80")
    out = raw.decode(enc, "replace")
    r = rng.random()
    if r < 0.15:
        out = out.replace("\xa0", " ")
    elif r < 0.25:
        out = out.encode("utf-8").decode(rng.choice(MOJI_ENCODINGS[:3]), "replace")
    elif r < 0.3 and out:
        k = rng.randrange(len(out))
        out = out[:k] + rng.choice(["\ufffd", "?"]) + out[k + 1:]
    return out


def moji_pool():
    from ftfy import badness, chardata
    chars = set()
    for v in list(badness.MOJIBAKE_CATEGORIES.values()) + list(chardata.UTF8_CLUES.values()):
        chars.update(c for c in v if c != "-")
    for enc in chardata.CHARMAP_ENCODINGS:
        chars.update(bytes(range(0x80, 0x100)).decode(enc))
    return sorted(chars) + list("aeAE ,.?!'\n\x1a") + ["\u00a0", "\ufffd", "\x80", "\x9d"]


def make_ftfy_texts(rng, n_moji, n_random, n_mixed):
    texts = []
    for _ in range(n_moji):
        words = [rng.choice(MOJI_SOURCE) for _ in range(rng.randint(1, 4))]
        texts.append(mojibake(rng, " ".join(words)))
    pool = moji_pool()
    for _ in range(n_random):
        texts.append("".join(rng.choice(pool) for _ in range(rng.randint(2, 12))))
    for _ in range(n_mixed):  # mojibake inside correct text, and lines of both
        good = " ".join(rng.choice(MOJI_SOURCE + WORDS) for _ in range(rng.randint(1, 4)))
        bad = mojibake(rng, rng.choice(MOJI_SOURCE))
        sep = rng.choice([" ", "", "\n", ", "])
        texts.append(good + sep + bad if rng.random() < 0.5 else bad + sep + good)
    return texts


# sd-scripts library/strategy_base.py TokenizeStrategy._get_input_ids (commit 48d368f, L221-284):
# the prompt is tokenized to max_length = N + 2 with truncation and padding="max_length"; when
# N + 2 > 77 it is cut into chunks i = 1, 76, 151 (L243/L254: range(1, max_length - 77 + 2, 75)),
# each chunk = [ids[0]] + ids[i:i+75] + [ids[-1]]. SD1 (pad == eos) keeps that (L240-250).
# SD2/SDXL (pad 0) patch each chunk (L262-268): if chunk[-2] is neither eos nor pad the last id
# becomes eos; if chunk[1] is pad it becomes eos.
def sd_scripts_chunks(tok, pad_id, text, n):
    eos = tok.eos_token_id
    ids = tok(text, padding="max_length", truncation=True, max_length=n + 2).input_ids
    assert len(ids) == n + 2
    if n + 2 <= 77:
        return [ids]
    out = []
    for i in range(1, n + 2 - 77 + 2, 75):
        c = [ids[0]] + ids[i:i + 75] + [ids[-1]]
        if pad_id != eos:
            if c[-2] != eos and c[-2] != pad_id:
                c[-1] = eos
            if c[1] == pad_id:
                c[1] = eos
        out.append(c)
    return out


def main():
    assert int(transformers.__version__.split(".")[0]) < 5, \
        "needs transformers 4.x (the slow CLIPTokenizer); see the header of this script"
    assert ftfy.__version__ == FTFY_VERSION, ftfy.__version__
    tmp = tempfile.mkdtemp()
    nv, nm = write_hf_files(tmp)
    write_tables()
    print("tokenizer_ftfy.inc:", write_ftfy_tables(INC_FTFY))
    vj, mt = os.path.join(tmp, "vocab.json"), os.path.join(tmp, "merges.txt")
    tok_eos = CLIPTokenizer(vj, mt)        # SD1: pads with <|endoftext|>
    tok_zero = CLIPTokenizer(vj, mt)
    tok_zero.pad_token_id = 0              # as sd-scripts does for SDXL's tokenizer2 (SD2's pads "!" = 0)
    assert tok_eos.fix_text is ftfy.fix_text and tok_eos.pad_token_id == 49407 and tok_zero.pad_token_id == 0
    tok_basic = CLIPTokenizer(vj, mt)      # the no-ftfy path, only to count where it differs
    tok_basic.fix_text = None
    tok_basic.nlp = BasicTokenizer(strip_accents=False, do_split_on_punc=False)
    hand = tok_eos("a photo of a cat", add_special_tokens=False).input_ids
    assert hand == [320, 1125, 539, 320, 2368], hand

    rng = random.Random(20240613)
    texts = make_corpus(rng) + FTFY_CASES
    frng = random.Random(20251123)
    texts += make_ftfy_texts(frng, 30, 15, 15)
    n_chunked = n_basic_differs = n_fixed = 0
    os.makedirs(FIX, exist_ok=True)
    with open(os.path.join(FIX, "corpus.jsonl"), "w", encoding="ascii") as f:
        for k, text in enumerate(texts):
            rec = {"text": text, "ids": tok_eos(text, add_special_tokens=False).input_ids}
            n_basic_differs += rec["ids"] != tok_basic(text, add_special_tokens=False).input_ids
            n_fixed += ftfy.fix_text(text) != text
            if k % 13 == 0 or len(rec["ids"]) > 75 and k % 9 == 0:
                n_chunked += 1
                for n in (75, 150, 225):
                    rec["e%d" % n] = sd_scripts_chunks(tok_eos, 49407, text, n)
                    rec["z%d" % n] = sd_scripts_chunks(tok_zero, 0, text, n)
            f.write(json.dumps(rec, ensure_ascii=True, separators=(",", ":")) + "\n")
    ftexts = FTFY_CASES + make_ftfy_texts(frng, 350, 250, 200)
    n_ffixed = 0
    with open(os.path.join(FIX, "ftfy.jsonl"), "w", encoding="ascii") as f:
        for text in ftexts:
            fixed = ftfy.fix_text(text)
            n_ffixed += fixed != text
            f.write(json.dumps({"text": text, "fixed": fixed}, ensure_ascii=True,
                               separators=(",", ":")) + "\n")
    shutil.rmtree(tmp)
    size = os.path.getsize(os.path.join(FIX, "corpus.jsonl"))
    fsize = os.path.getsize(os.path.join(FIX, "ftfy.jsonl"))
    print(f"vocab {nv}, merges {nm}; {len(texts)} captions ({n_fixed} changed by fix_text, "
          f"{n_basic_differs} tokenized differently without ftfy), {n_chunked} with chunked ids; "
          f"corpus.jsonl {size} bytes; ftfy.jsonl {len(ftexts)} texts ({n_ffixed} changed), "
          f"{fsize} bytes")


if __name__ == "__main__":
    main()
