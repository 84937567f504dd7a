# Dev-time generator for the Unicode normalization / lowercase tables in src/text/unicode.cpp.
import unicodedata, sys
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
# ccc ranges
ranges = []
for cp, c in ccc:
    if ranges and ranges[-1][1] == cp - 1 and ranges[-1][2] == c:
        ranges[-1][1] = cp
    else:
        ranges.append([cp, cp, c])
out = []
w = out.append
w('// ---- Generated from Python %s unicodedata (Unicode %s); do not edit by hand. ----' % (sys.version.split()[0], unicodedata.unidata_version))
w('const CccRange kCccRanges[] = {')
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
lentries = []
for cp, cps in lower:
    lentries.append((cp, len(data), len(cps), 0)); data.extend(cps)
def emit_list(name, typ, items, fmt):
    w('const %s %s[] = {' % (typ, name))
    line = ''
    for it in items:
        item = fmt(it)
        if len(line) + len(item) > 110: w(line); line = ''
        line += item
    w(line); w('};')
emit_list('kMapData', 'char32_t', data, lambda x: '0x%X,' % x)
emit_list('kDecomp', 'MapEntry', entries, lambda e: '{0x%X,%d,%d,%d},' % e)
emit_list('kLower', 'MapEntry', lentries, lambda e: '{0x%X,%d,%d,%d},' % e)
comp.sort()
emit_list('kCompose', 'ComposeEntry', comp, lambda e: '{0x%X,0x%X,0x%X},' % e)
w('// ---- End of generated tables. ----')
print('\n'.join(out))
print(len(ranges), len(entries), len(lentries), len(comp), len(data), file=sys.stderr)
