#!/usr/bin/env python3
"""Generate crdt-model/data/communes.bin.zlib, the French communes table.

Source
======
The npm package ``@etalab/decoupage-administratif`` (version pinned below,
data "millésime" 2026), which republishes INSEE's Code Officiel Géographique,
INSEE's legal populations and La Poste's base officielle des codes postaux.
Data licence: Licence Ouverte / Open Licence (Etalab); package code: MIT.
See crdt-model/data/COMMUNES-LICENCE.md.

The script runs ``npm install --prefix <tmpdir> @etalab/decoupage-administratif@<VERSION>``
(only the npm registry is needed) and reads ``data/communes.json``,
``data/departements.json`` and ``data/regions.json``. Overseas collectivities
(Saint-Pierre-et-Miquelon, Saint-Barthélemy, Saint-Martin, TAAF, Wallis-et-Futuna,
French Polynesia, New Caledonia, Clipperton) are in ``communes.json`` itself,
with ``zone == "com"``; their department and region codes are the 3-digit
collectivity code (988 for New Caledonia: 98800 -> Nouméa, INSEE 98818).

Kept rows: ``type == "commune-actuelle"`` (current communes) and
``type == "arrondissement-municipal"`` (the 45 municipal arrondissements of
Paris, Lyon and Marseille, whose ``commune`` field names the parent commune).
Former, delegated and associated communes are dropped.

Usage::

    python3 scripts/communes/generate.py                # npm install + generate
    python3 scripts/communes/generate.py --package-dir node_modules/@etalab/decoupage-administratif

Python 3.11, standard library only.

Format (version 1)
==================
The file is one zlib stream (RFC 1950, ``zlib.compress(level=9)``, inflated
in Rust by ``miniz_oxide``). The inflated payload is, with ``u8``/``u16``/``u32``
little-endian, ``str8`` a u8 byte length followed by that many UTF-8 bytes,
``varint`` unsigned LEB128 (7 bits per byte, low groups first, high bit set on
all bytes but the last) and ``zigzag(v)`` = ``2v`` for v >= 0, ``-2v - 1``
for v < 0::

    magic        4 bytes  b"CMNS"
    version      u8       1
    source       str8     "@etalab/decoupage-administratif@<version>"
    R            u8       number of regions, then R times:
                 str8 code ("11", "04", "988"...), str8 name
    D            u8       number of departments (overseas collectivities
                          included), then D times: str8 code ("01", "2A",
                          "974", "988"...), str8 name, u8 region index
    N            u32      number of communes (municipal arrondissements
                          included); rows are sorted by INSEE code in byte
                          order ("2A004" after "29xxx", before "30xxx")
    department   N x u8   department index of each row; the row's region is
                          its department's region
    insee        N x varint  the INSEE code is the department code followed
                          by a number zero-padded to 5 - len(department code)
                          digits ("974" + "11" = "97411", "2A" + "004"); the
                          varint is that number minus the previous row's when
                          both rows are in the same department, else the
                          number itself
    names        N x (UTF-8 name, then one b"\n")
    population   N x varint  legal population (0 when unknown)
    P            u16      number of distinct postal codes, then P varints:
                          the codes ascending, each as the difference with the
                          previous one (the first from 0); a code is printed
                          as 5 digits ("01400")
    postal_count N x u8   number of postal codes of each row
    postal       sum(postal_count) x varint  zigzag(i - previous i), i being
                          the index of the code in the P list and previous i
                          the previous value in this column (0 at first);
                          each row's codes are ascending
    parent       N x varint  0, or 1 + row index of the parent commune for a
                          municipal arrondissement (75101 -> row of 75056)
    end          4 bytes  b"END1", then nothing
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

PACKAGE = "@etalab/decoupage-administratif"
VERSION = "6.0.0"
MAGIC = b"CMNS"
FORMAT_VERSION = 1
END = b"END1"

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "crdt-model" / "data" / "communes.bin.zlib"


def str8(text: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > 255:
        raise ValueError(f"string too long for str8: {text!r}")
    return bytes([len(raw)]) + raw


def varint(value: int) -> bytes:
    if value < 0:
        raise ValueError("varint must be non-negative")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def zigzag(value: int) -> int:
    return 2 * value if value >= 0 else -2 * value - 1


def install_package(version: str, workdir: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm not found: install Node.js/npm, or pass --package-dir")
    subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(workdir),
         f"{PACKAGE}@{version}"],
        check=True,
    )
    return workdir / "node_modules" / PACKAGE


def load_json(path: Path):
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def build(package_dir: Path, version: str) -> tuple[bytes, dict]:
    meta = load_json(package_dir / "package.json")
    if meta.get("version") != version:
        sys.exit(f"package version is {meta.get('version')}, expected {version}")
    data = package_dir / "data"
    regions_json = load_json(data / "regions.json")
    departments_json = load_json(data / "departements.json")
    communes_json = load_json(data / "communes.json")

    regions = sorted(regions_json, key=lambda r: r["code"])
    region_index = {r["code"]: i for i, r in enumerate(regions)}
    departments = sorted(departments_json, key=lambda d: d["code"])
    dept_index = {d["code"]: i for i, d in enumerate(departments)}
    if len(regions) > 255 or len(departments) > 255:
        sys.exit("too many regions or departments for u8 indexes")

    kept = [c for c in communes_json
            if c["type"] in ("commune-actuelle", "arrondissement-municipal")]
    kept.sort(key=lambda c: c["code"].encode("ascii"))
    row = {c["code"]: i for i, c in enumerate(kept)}
    if len(row) != len(kept):
        sys.exit("duplicate INSEE codes")

    out = bytearray()
    out += MAGIC
    out.append(FORMAT_VERSION)
    out += str8(f"{PACKAGE}@{version}")
    out.append(len(regions))
    for r in regions:
        out += str8(r["code"]) + str8(r["nom"])
    out.append(len(departments))
    for d in departments:
        out += str8(d["code"]) + str8(d["nom"])
        out.append(region_index[d["region"]])
    out += len(kept).to_bytes(4, "little")

    for c in kept:
        dept = c["departement"]
        if departments[dept_index[dept]]["region"] != c["region"]:
            sys.exit(f"{c['code']}: region {c['region']} is not its department's")
        out.append(dept_index[dept])
    previous_dept, previous_number = None, 0
    for c in kept:
        code, dept = c["code"], c["departement"]
        suffix = code[len(dept):]
        if len(code) != 5 or not code.startswith(dept) or not suffix.isdigit():
            sys.exit(f"INSEE code {code!r} is not department {dept!r} + digits")
        number = int(suffix)
        out += varint(number - previous_number if dept == previous_dept else number)
        previous_dept, previous_number = dept, number
    for c in kept:
        name = c["nom"]
        if not name or "\n" in name:
            sys.exit(f"bad name {name!r}")
        out += name.encode("utf-8") + b"\n"
    for c in kept:
        out += varint(int(c.get("population", 0)))
    postal_lists = [sorted(set(c.get("codesPostaux", []))) for c in kept]
    distinct = sorted({p for codes in postal_lists for p in codes})
    for code in distinct:
        if len(code) != 5 or not code.isdigit():
            sys.exit(f"bad postal code {code!r}")
    postal_index = {p: i for i, p in enumerate(distinct)}
    out += len(distinct).to_bytes(2, "little")
    previous = 0
    for code in distinct:
        out += varint(int(code) - previous)
        previous = int(code)
    for codes in postal_lists:
        if len(codes) > 255:
            sys.exit("too many postal codes for one commune")
        out.append(len(codes))
    previous = 0
    for codes in postal_lists:
        for code in codes:
            out += varint(zigzag(postal_index[code] - previous))
            previous = postal_index[code]
    for c in kept:
        if c["type"] == "arrondissement-municipal":
            out += varint(1 + row[c["commune"]])
        else:
            out += varint(0)
    out += END

    stats = {
        "communes": sum(1 for c in kept if c["type"] == "commune-actuelle"),
        "arrondissements": sum(1 for c in kept
                               if c["type"] == "arrondissement-municipal"),
        "postal_codes": len(distinct),
        "regions": len(regions),
        "departments": len(departments),
        "raw_bytes": len(out),
    }
    return bytes(out), stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=VERSION,
                        help=f"package version (default {VERSION})")
    parser.add_argument("--package-dir", type=Path,
                        help="an already installed package directory (skips npm)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="communes-") as tmp:
        package_dir = args.package_dir or install_package(args.version, Path(tmp))
        payload, stats = build(package_dir, args.version)

    compressed = zlib.compress(payload, level=9)
    if zlib.decompress(compressed) != payload:
        sys.exit("zlib round trip failed")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.output.with_suffix(args.output.suffix + ".tmp")
    tmp_out.write_bytes(compressed)
    os.replace(tmp_out, args.output)
    stats["file_bytes"] = len(compressed)
    stats["sha256"] = hashlib.sha256(compressed).hexdigest()
    print(f"wrote {args.output}")
    for key, value in stats.items():
        print(f"  {key}: {value}")


if __name__ == "__main__":
    main()
