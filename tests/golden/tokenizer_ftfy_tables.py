"""tokenizer_ftfy_tables.py — writes engine/models/tokenizer_ftfy.inc, the data behind loratty's C
copy of ftfy.fix_text (engine/models/tokenizer_ftfy.c), taken from the installed ftfy itself:
its HTML entity table, translate maps, single-byte charmaps, and its regular expressions parsed
with Python's own regex parser (re._parser) into sequences of character sets, so the C side
matches them position by position with the same alternation order. Anything this script cannot
translate exactly (a regex construct it does not know) stops it with an assertion.

Imported by make_tokenizer_corpus.py (run it, not this file).
"""
import html
import re
import re._constants as C
import re._parser as P
import sys
import unicodedata

import ftfy
from ftfy import badness, chardata, fixes

MAXCP = 0x110000


def _ranges_of(members):
    out, start, prev = [], None, None
    for c in sorted(members):
        if start is None:
            start = prev = c
        elif c == prev + 1:
            prev = c
        else:
            out.append((start, prev))
            start = prev = c
    if start is not None:
        out.append((start, prev))
    return out


def _category_pred(cat):
    """Python re's \\s \\w \\d on str patterns (checked against re itself below)."""
    if cat == C.CATEGORY_SPACE:
        return str.isspace
    if cat == C.CATEGORY_WORD:
        return lambda ch: ch.isalnum() or ch == "_"
    if cat == C.CATEGORY_DIGIT:
        return str.isdecimal
    raise AssertionError("unsupported category %s" % cat)


def _check_categories():
    for esc, cat in ((r"\s", C.CATEGORY_SPACE), (r"\w", C.CATEGORY_WORD), (r"\d", C.CATEGORY_DIGIT)):
        r, pred = re.compile(esc), _category_pred(cat)
        for c in range(MAXCP):
            assert bool(r.match(chr(c))) == pred(chr(c)), (esc, hex(c))


class SetTable:
    """Distinct character (or byte) sets, each a list of inclusive ranges."""

    def __init__(self):
        self.sets, self.index = [], {}

    def add(self, members):
        key = tuple(_ranges_of(members))
        if key not in self.index:
            self.index[key] = len(self.sets)
            self.sets.append(key)
        return self.index[key]


def _item_members(op, av, limit):
    """The code points (or bytes, limit 256) one parsed single-character item matches."""
    if op == C.LITERAL:
        return {av}
    if op == C.ANY:  # no DOTALL: anything but \n
        return set(range(limit)) - {10}
    assert op == C.IN, op
    negate, members = False, set()
    for iop, iav in av:
        if iop == C.NEGATE:
            negate = True
        elif iop == C.LITERAL:
            members.add(iav)
        elif iop == C.RANGE:
            members.update(range(iav[0], iav[1] + 1))
        elif iop == C.CATEGORY:
            pred = _category_pred(iav)
            members.update(c for c in range(limit) if not 0xD800 <= c <= 0xDFFF and pred(chr(c)))
        else:
            raise AssertionError("unsupported class item %s" % iop)
    if negate:
        members = set(range(limit)) - members
    return members


# item codes in the C arrays: a set index, or one of these
OPT, BOL, ALT, END = 0x4000, -2, -3, -4


def _alternatives(pattern, sets, limit):
    """A pattern that is a plain alternation of fixed sequences → C item list."""
    tree = P.parse(pattern.pattern, pattern.flags)
    assert len(tree.data) == 1 and tree.data[0][0] == C.BRANCH, pattern
    items = []
    for alt in tree.data[0][1][1]:
        for op, av in alt.data:
            if op == C.AT:
                assert av == C.AT_BEGINNING, av
                items.append(BOL)
            elif op == C.MAX_REPEAT:
                lo, hi, sub = av
                assert (lo, hi) == (0, 1) and len(sub.data) == 1, av
                items.append(OPT | sets.add(_item_members(*sub.data[0], limit)))
            else:
                items.append(sets.add(_item_members(op, av, limit)))
        items.append(ALT)
    items.append(END)
    return items


def _utf8_detector_sets(sets):
    """UTF8_DETECTOR_RE = (?<![strict]) ([f2][c] | [f3][c]{2} | [f4][c]{3})+ → its 5 sets."""
    tree = P.parse(chardata.UTF8_DETECTOR_RE.pattern, chardata.UTF8_DETECTOR_RE.flags)
    (a_op, a_av), (r_op, r_av) = tree.data
    assert a_op == C.ASSERT_NOT and a_av[0] == -1 and len(a_av[1].data) == 1
    strict = sets.add(_item_members(*a_av[1].data[0], MAXCP))
    assert r_op == C.MAX_REPEAT and r_av[0] == 1 and r_av[1] == C.MAXREPEAT
    (s_op, s_av), = r_av[2].data
    assert s_op == C.SUBPATTERN
    (b_op, b_av), = s_av[3].data
    assert b_op == C.BRANCH
    out = [strict]
    for k, alt in enumerate(b_av[1]):
        data = alt.data
        out.append(sets.add(_item_members(*data[0], MAXCP)))
        assert len(data) == 2
        cont = data[1]
        if k:  # [c]{2}, [c]{3}
            assert cont[0] == C.MAX_REPEAT and cont[1][0] == cont[1][1] == k + 1
            cont = cont[1][2].data[0]
        cset = _item_members(*cont, MAXCP)
        if k == 0:
            cont_index = sets.add(cset)
        else:
            assert sets.add(cset) == cont_index
    return out + [cont_index]


def _emit_items(f, name, items, comment):
    f.write("/* %s */\nstatic const int16_t %s[] = {\n" % (comment, name))
    words = [("FTFY_OPT | %d" % (i & ~OPT)) if i >= 0 and i & OPT else
             {BOL: "FTFY_BOL", ALT: "FTFY_ALT", END: "FTFY_END"}.get(i, str(i)) for i in items]
    line = "   "
    for w in words:
        if len(line) + len(w) > 96:
            f.write(line + "\n")
            line = "   "
        line += " " + w + ","
    f.write(line + "\n};\n\n")


def _cps(s, width):
    v = [ord(c) for c in s]
    assert len(v) <= width, s
    return "{" + ",".join("0x%X" % c for c in v + [0] * (width - len(v))) + "}"


def _emit_map(f, name, mapping, width, comment, per_line=4):
    rows = sorted(mapping.items())
    f.write("/* %s */\nstatic const uint32_t %s[][%d] = {\n" % (comment, name, width + 1))
    for i in range(0, len(rows), per_line):
        f.write("    " + " ".join("{0x%X,%s}," % (k, _cps(v, width)[1:-1]) for k, v in rows[i:i + per_line])
                + "\n")
    f.write("};\n\n")


def write_ftfy_tables(path):
    _check_categories()
    cfg = ftfy.TextFixerConfig()
    assert (cfg.unescape_html, cfg.normalization, cfg.max_decode_length) == ("auto", "NFC", 1000000)
    assert all(getattr(cfg, k) for k in ftfy.FIXERS) and cfg.fix_encoding
    sets, bsets = SetTable(), SetTable()
    bad_items = _alternatives(badness.BADNESS_RE, sets, MAXCP)
    strict, f2, f3, f4, cont = _utf8_detector_sets(sets)
    def one_class(rx):  # a pattern that is a single character class
        tree = P.parse(rx.pattern, rx.flags)
        assert len(tree.data) == 1, rx
        return sets.add(_item_members(*tree.data[0], MAXCP))

    named = {
        "SINGLE_QUOTE": one_class(chardata.SINGLE_QUOTE_RE),
        "DOUBLE_QUOTE": one_class(chardata.DOUBLE_QUOTE_RE),
        "C1_CONTROL": one_class(chardata.C1_CONTROL_RE),
        "CONTROL_CHARS": sets.add(set(chardata.CONTROL_CHARS)),
        "UTF8_STRICT_CONT": strict, "UTF8_FIRST_OF_2": f2, "UTF8_FIRST_OF_3": f3,
        "UTF8_FIRST_OF_4": f4, "UTF8_CONT": cont,
    }
    assert all(v is None for v in chardata.CONTROL_CHARS.values())
    # ANSI_RE = \033\[((?:\d|;)*)([a-zA-Z]): check its shape, keep \d's set and the letters
    ansi = P.parse(fixes.ANSI_RE.pattern, fixes.ANSI_RE.flags).data
    assert ansi[0] == (C.LITERAL, 27) and ansi[1] == (C.LITERAL, ord("[")) and len(ansi) == 4
    rep = ansi[2][1][3].data[0]
    assert rep[0] == C.MAX_REPEAT and rep[1][:2] == (0, C.MAXREPEAT)
    named["ANSI_PARAM"] = sets.add(_item_members(*rep[1][2].data[0], MAXCP))
    named["ANSI_FINAL"] = sets.add(_item_members(*ansi[3][1][3].data[0], MAXCP))
    altered = _alternatives(chardata.ALTERED_UTF8_RE, bsets, 256)
    lossy = _alternatives(chardata.LOSSY_UTF8_RE, bsets, 256)
    assert fixes.A_GRAVE_WORD_RE.pattern == b"\xc3 (?! |quele|quela|quilo|s )"  # hand-coded in C

    # HTML entities that HTML_ENTITY_RE can match at all (names of at most 24 letters/digits)
    ent = {k[1:-1]: v for k, v in chardata.HTML_ENTITIES.items() if chardata.HTML_ENTITY_RE.fullmatch(k)}
    assert chardata.HTML_ENTITY_RE.pattern == r"&#?[0-9A-Za-z]{1,24};"
    # numeric references: what html.unescape gives where it is not chr(n)
    odd = {}
    for n in range(MAXCP):
        got = html.unescape("&#%d;" % n)
        if got != (chr(n) if not 0xD800 <= n <= 0xDFFF else None):
            assert len(got) <= 1 and got != ";" or n == 59, n
            odd[n] = ord(got) if got else 0
    for n in (0x110000, 10**23):
        assert html.unescape("&#%d;" % n) == "\ufffd"
    charref = []
    for n in sorted(odd):
        if charref and charref[-1][1] == n - 1 and charref[-1][2] == odd[n] and odd[n] in (0, 0xFFFD):
            charref[-1][1] = n
        else:
            charref.append([n, n, odd[n]])

    with open(path, "w") as f:
        f.write("/* tokenizer_ftfy.inc — generated by tests/golden/make_tokenizer_corpus.py (from\n"
                " * tokenizer_ftfy_tables.py) out of ftfy %s itself, Python %d.%d (unicodedata %s);"
                " do not edit. */\n\n" % (ftfy.__version__, sys.version_info[0], sys.version_info[1],
                                          unicodedata.unidata_version))
        f.write("enum { FTFY_OPT = 0x4000, FTFY_BOL = -2, FTFY_ALT = -3, FTFY_END = -4 };\n\n")
        for tag, table, unit in (("ftfy", sets, "code points"), ("ftfy_byte", bsets, "bytes")):
            f.write("/* character sets (%s): inclusive ranges, then each set's first range and count */\n"
                    "static const uint32_t %s_ranges[][2] = {\n" % (unit, tag))
            flat, spans = [], []
            for s in table.sets:
                spans.append((len(flat), len(s)))
                flat.extend(s)
            for i in range(0, len(flat), 6):
                f.write("    " + " ".join("{0x%X,0x%X}," % r for r in flat[i:i + 6]) + "\n")
            f.write("};\nstatic const uint16_t %s_sets[][2] = {\n" % tag)
            for i in range(0, len(spans), 8):
                f.write("    " + " ".join("{%d,%d}," % s for s in spans[i:i + 8]) + "\n")
            f.write("};\n\n")
        f.write("/* named sets: quotes for uncurl_quotes, C1_CONTROL_RE, remove_control_chars' map,\n"
                " * UTF8_DETECTOR_RE's classes (lookbehind, lead of 2/3/4, continuation), ANSI_RE's */\n")
        f.write("enum {\n" + "".join("    FTFY_SET_%s = %d,\n" % kv for kv in named.items()) + "};\n\n")
        _emit_items(f, "ftfy_badness_re", bad_items,
                    "badness.BADNESS_RE: alternatives in order, each a sequence of set indexes "
                    "(FTFY_OPT: optional)")
        _emit_items(f, "ftfy_altered_utf8_re", altered, "chardata.ALTERED_UTF8_RE (byte sets)")
        _emit_items(f, "ftfy_lossy_utf8_re", lossy, "chardata.LOSSY_UTF8_RE (byte sets)")
        f.write("/* chardata.CHARMAP_ENCODINGS in ftfy's order: what bytes 0x80..0xFF decode to, then byte"
                " 0x1A */\nstatic const struct {\n    const char *name;\n    bool sloppy;\n"
                "    uint32_t cp[129];\n} ftfy_charmaps[] = {\n")
        for enc in chardata.CHARMAP_ENCODINGS:
            dec = bytes(range(256)).decode(enc)
            assert len(set(dec)) == 256 and dec[:0x1A] + dec[0x1B:0x80] == \
                "".join(map(chr, range(0x1A))) + "".join(map(chr, range(0x1B, 0x80)))
            assert chardata.ENCODING_REGEXES[enc].pattern == \
                "^[\x00-\x19\x1b-\x7f%s]*$" % (dec[0x80:] + dec[0x1A])
            cps = [ord(c) for c in dec[0x80:]] + [ord(dec[0x1A])]
            f.write('    {"%s", %s, {\n' % (enc, "true" if enc.startswith("sloppy") else "false"))
            for i in range(0, 129, 12):
                f.write("        " + " ".join("0x%X," % c for c in cps[i:i + 12]) + "\n")
            f.write("    }},\n")
        f.write("};\nenum {\n" + "".join(
            "    FTFY_CHARMAP_%s = %d,\n" % (e.upper().replace("-", "_"), k)
            for k, e in enumerate(chardata.CHARMAP_ENCODINGS)) +
            "    FTFY_N_CHARMAPS = %d,\n};\n\n" % len(chardata.CHARMAP_ENCODINGS))
        # the C side reads strict windows-1252 off the sloppy map: a byte is undefined there
        # exactly when sloppy-windows-1252 passes it through as the same code point
        sloppy = bytes(range(256)).decode("sloppy-windows-1252")
        for b in range(0x80, 0x100):
            try:
                strict = bytes([b]).decode("windows-1252")
            except UnicodeDecodeError:
                strict = None
            assert strict == (None if sloppy[b] == chr(b) and b < 0xA0 else sloppy[b]), b
        _emit_map(f, "ftfy_ligatures", {k: v for k, v in chardata.LIGATURES.items()}, 3,
                  "fix_latin_ligatures: code point, then up to 3 (0 = none)")
        _emit_map(f, "ftfy_width", chardata.WIDTH_MAP, 2,
                  "fix_character_width: code point, then up to 2 (0 = none)", 5)
        f.write("/* unescape_html's numeric references where html.unescape does not give chr(n): first,"
                " last,\n * what they give (0 = nothing). Past U+10FFFF and surrogates: U+FFFD. */\n"
                "static const uint32_t ftfy_charref_fix[][3] = {\n")
        for i in range(0, len(charref), 5):
            f.write("    " + " ".join("{0x%X,0x%X,0x%X}," % tuple(r) for r in charref[i:i + 5]) + "\n")
        f.write("};\n\n")
        names = sorted(ent, key=lambda k: k.encode())
        f.write("/* unescape_html: entity names (no & ;), sorted by byte, and what they give */\n"
                "static const struct {\n    const char *name;\n    uint32_t cp[3];\n} ftfy_entities[] = {\n")
        for i in range(0, len(names), 3):
            f.write("    " + " ".join('{"%s",%s},' % (k, _cps(ent[k], 3)) for k in names[i:i + 3]) + "\n")
        f.write("};\n")
    return {"sets": len(sets.sets), "entities": len(names), "charref": len(charref)}
