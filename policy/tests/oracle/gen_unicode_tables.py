"""Regenerate policy/src/py/tables.rs from the running Python's Unicode data.

The tables mirror the Python version the oracle runs (str.isprintable for
repr(), NFKC + str.isidentifier for the tokenizer's identifier rules, str.lower
for characters whose lowercase is not a single code point change). Run with
the oracle interpreter:  .oracles/venv/bin/python policy/tests/oracle/gen_unicode_tables.py
"""
import sys
import unicodedata


def ranges(pred):
    out, start = [], None
    for c in range(0x80, 0x110000):
        ok = pred(c)
        if ok and start is None:
            start = c
        if not ok and start is not None:
            out.append((start, c - 1))
            start = None
    if start is not None:
        out.append((start, 0x10FFFF))
    return out


def is_surrogate(c):
    return 0xD800 <= c <= 0xDFFF


def emit(name, doc, rs):
    print(f"/// {doc}")
    print(f"pub(crate) const {name}: &[(u32, u32)] = &[")
    for a, b in rs:
        print(f"    (0x{a:X}, 0x{b:X}),")
    print("];")
    print()


print("//! Unicode tables generated from Python "
      f"{sys.version_info.major}.{sys.version_info.minor} "
      f"(Unicode {unicodedata.unidata_version}) by "
      "policy/tests/oracle/gen_unicode_tables.py. Do not edit.")
print()
emit("NON_PRINTABLE", "Non-ASCII code points for which `str.isprintable()` is false.",
     ranges(lambda c: not chr(c).isprintable()))
emit("ID_START", "Non-ASCII code points that may start an identifier (after NFKC).",
     ranges(lambda c: not is_surrogate(c)
            and unicodedata.normalize("NFKC", chr(c)).isidentifier()))
emit("ID_CONTINUE", "Non-ASCII code points that may continue an identifier (after NFKC).",
     ranges(lambda c: not is_surrogate(c)
            and unicodedata.normalize("NFKC", "a" + chr(c)).isidentifier()))
