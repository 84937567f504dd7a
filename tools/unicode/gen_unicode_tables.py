#!/usr/bin/env python3
# Dev-time generator of src/text/unicode_data.cpp, the Unicode tables of the text/ layer, from
# Python's unicodedata and str methods:
#   python3 tools/unicode/gen_unicode_tables.py > src/text/unicode_data.cpp
# The tables are pinned to one Unicode version (EXPECTED_UNICODE): the tokenizer's normalization
# goldens and the Jinja str-method cases were made with it, so a Python reporting another version
# is refused (pass --any-version to generate anyway, then regenerate the test data and goldens).
import sys
import unicodedata

EXPECTED_UNICODE = '14.0.0'

if unicodedata.unidata_version != EXPECTED_UNICODE and '--any-version' not in sys.argv:
    sys.exit('Python reports Unicode %s, the tables are Unicode %s (use a Python with that '
             'version, or --any-version)' % (unicodedata.unidata_version, EXPECTED_UNICODE))

ccc = []
decomp = []   # (cp, compat, [cps])
comp = []     # (a, b, composite)
lower = []    # (cp, [cps])
for cp in range(0x110000):
    if 0xD800 <= cp <= 0xDFFF: continue
    ch = chr(cp)
    c = unicodedata.combining(ch)
    if c: ccc.append((cp, c))
    d = unicodedata.decomposition(ch)
    if d:
        parts = d.split()
        compat = parts[0].startswith('<')
        if compat: parts = parts[1:]
        cps = [int(p, 16) for p in parts]
        decomp.append((cp, 1 if compat else 0, cps))
        if not compat and len(cps) == 2 and unicodedata.normalize('NFC', ch) == ch:
            comp.append((cps[0], cps[1], cp))
    l = ch.lower()
    if l != ch:
        lower.append((cp, [ord(x) for x in l]))


def case_map(fn):
    """(cp, [cps]) for every scalar value whose single-character mapping differs from itself."""
    out = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF: continue
        ch = chr(cp)
        m = fn(ch)
        if m != ch: out.append((cp, [ord(x) for x in m]))
    return out


upper = case_map(str.upper)
title = case_map(str.title)   # one character: its full titlecase mapping
fold = case_map(str.casefold)

# Python str character properties, one bit each (must match CharProp in src/text/unicode.h).
ALPHA, DECIMAL, DIGIT, NUMERIC, SPACE, LINEBREAK, LOWER, UPPER, TITLE, CASED, CASE_IGNORABLE, \
    PRINTABLE = (1 << i for i in range(12))


def is_titlecase(ch):
    return unicodedata.category(ch) == 'Lt'


def is_cased(ch):
    # Unicode's Cased = Lowercase | Uppercase | Lt; str.islower/isupper of one character are the
    # Lowercase / Uppercase properties.
    return ch.islower() or ch.isupper() or is_titlecase(ch)


def is_case_ignorable(ch):
    # Not exposed by unicodedata; read back from str.lower()'s final-sigma rule, which skips
    # case-ignorable characters: after a cased letter, an ignorable ch keeps a following capital
    # sigma final; a cased ch is ignorable iff it is skipped to reach an uncased space.
    if is_cased(ch):
        return (' ' + ch + '\u03a3').lower()[-1] == '\u03c3'
    return ('\u0391' + ch + '\u03a3').lower()[-1] == '\u03c2'


def props(cp):
    ch = chr(cp)
    f = 0
    if ch.isalpha(): f |= ALPHA
    if ch.isdecimal(): f |= DECIMAL
    if ch.isdigit(): f |= DIGIT
    if ch.isnumeric(): f |= NUMERIC
    if ch.isspace(): f |= SPACE
    if len(('a' + ch + 'b').splitlines()) == 2: f |= LINEBREAK
    if ch.islower(): f |= LOWER
    if ch.isupper(): f |= UPPER
    if is_titlecase(ch): f |= TITLE
    if is_cased(ch): f |= CASED
    if is_case_ignorable(ch): f |= CASE_IGNORABLE
    if ch.isprintable(): f |= PRINTABLE
    return f


flags = [props(cp) for cp in range(0x110000)]
SHIFT = 7
BLOCK = 1 << SHIFT
values = sorted(set(flags))
value_index = {v: i for i, v in enumerate(values)}
assert len(values) <= 256
blocks = {}
stage1 = []
for b in range(0, 0x110000, BLOCK):
    key = tuple(value_index[f] for f in flags[b:b + BLOCK])
    stage1.append(blocks.setdefault(key, len(blocks)))
stage2 = [i for key in sorted(blocks, key=blocks.get) for i in key]

# ccc ranges
ranges = []
for cp, c in ccc:
    if ranges and ranges[-1][1] == cp - 1 and ranges[-1][2] == c:
        ranges[-1][1] = cp
    else:
        ranges.append([cp, cp, c])
out = []
w = out.append
w('// Unicode %s tables of the text/ layer: normalization, case mappings and Python str character'
  % unicodedata.unidata_version)
w('// properties. GENERATED from Python %s unicodedata by tools/unicode/gen_unicode_tables.py;'
  % sys.version.split()[0])
w('// do not edit by hand. Regenerate with:')
w('//   python3 tools/unicode/gen_unicode_tables.py > src/text/unicode_data.cpp')
w('// clang-format off')
w('#include "text/unicode_data.h"')
w('')
w('namespace lpx::unicode::data {')
w('')
w('// ---- Generated from Python %s unicodedata (Unicode %s); do not edit by hand. ----' % (sys.version.split()[0], unicodedata.unidata_version))
w('const CccRange kCccRangesData[] = {')
line = ''
for a, b, c in ranges:
    item = '{0x%X,0x%X,%d},' % (a, b, c)
    if len(line) + len(item) > 110: w(line); line = ''
    line += item
w(line); w('};')
data = []
entries = []
for cp, compat, cps in decomp:
    entries.append((cp, len(data), len(cps), compat)); data.extend(cps)
def map_entries(mapping):
    es = []
    for cp, cps in mapping:
        es.append((cp, len(data), len(cps), 0)); data.extend(cps)
    return es
lentries = map_entries(lower)
uentries = map_entries(upper)
tentries = map_entries(title)
fentries = map_entries(fold)
def emit_list(name, typ, items, fmt, width=110):
    w('const %s %s[] = {' % (typ, name))
    line = ''
    for it in items:
        item = fmt(it)
        if len(line) + len(item) > width: w(line); line = ''
        line += item
    w(line); w('};')
emit_list('kMapDataData', 'char32_t', data, lambda x: '0x%X,' % x)
emit_list('kDecompData', 'MapEntry', entries, lambda e: '{0x%X,%d,%d,%d},' % e)
emit_list('kLowerData', 'MapEntry', lentries, lambda e: '{0x%X,%d,%d,%d},' % e)
comp.sort()
emit_list('kComposeData', 'ComposeEntry', comp, lambda e: '{0x%X,0x%X,0x%X},' % e)
emit_list('kUpperData', 'MapEntry', uentries, lambda e: '{0x%X,%d,%d,%d},' % e, 98)
emit_list('kTitleData', 'MapEntry', tentries, lambda e: '{0x%X,%d,%d,%d},' % e, 98)
emit_list('kFoldData', 'MapEntry', fentries, lambda e: '{0x%X,%d,%d,%d},' % e, 98)
w('// Character properties: kPropValues[kPropStage2[(kPropStage1[cp >> %d] << %d) | (cp & %d)]].'
  % (SHIFT, SHIFT, BLOCK - 1))
emit_list('kPropValuesData', 'uint16_t', values, lambda x: '0x%X,' % x, 98)
emit_list('kPropStage1Data', 'uint16_t', stage1, lambda x: '%d,' % x, 98)
emit_list('kPropStage2Data', 'uint8_t', stage2, lambda x: '%d,' % x, 98)
w('// ---- End of generated tables. ----')
w('')
for name in ('CccRange kCccRanges', 'char32_t kMapData', 'MapEntry kDecomp', 'MapEntry kLower',
             'ComposeEntry kCompose', 'MapEntry kUpper', 'MapEntry kTitle', 'MapEntry kFold',
             'uint16_t kPropValues', 'uint16_t kPropStage1', 'uint8_t kPropStage2'):
    typ, var = name.split()
    w('const std::span<const %s> %s(%sData);' % (typ, var, var))
w('')
w('}  // namespace lpx::unicode::data')
print('\n'.join(out))
print(len(ranges), len(entries), len(lentries), len(uentries), len(tentries), len(fentries),
      len(comp), len(data), len(values), len(blocks), file=sys.stderr)
