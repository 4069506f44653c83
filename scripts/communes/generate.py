#!/usr/bin/env python3
"""Generate crdt-model/data/communes.bin.zlib, the French communes table.

Sources
=======
The npm package ``@etalab/decoupage-administratif`` (version pinned below,
data "millésime" 2026), which republishes INSEE's Code Officiel Géographique,
INSEE's legal populations and La Poste's base officielle des codes postaux;
and the npm package ``@etalab/fr-bounding-boxes`` (version pinned below), the
bounding boxes of the communes and departments of 2017, built by Etalab from
IGN's ADMIN EXPRESS. Data licence of both: Licence Ouverte / Open Licence 2.0
(Etalab); package code: MIT. See crdt-model/data/COMMUNES-LICENCE.md.

The script runs ``npm install --prefix <tmpdir>`` of both pinned versions
(only the npm registry is needed) and reads ``data/communes.json``,
``data/departements.json`` and ``data/regions.json`` of the first,
``dist/communes.json`` and ``dist/departements.json`` of the second. Overseas collectivities
(Saint-Pierre-et-Miquelon, Saint-Barthélemy, Saint-Martin, TAAF, Wallis-et-Futuna,
French Polynesia, New Caledonia, Clipperton) are in ``communes.json`` itself,
with ``zone == "com"``; their department and region codes are the 3-digit
collectivity code (988 for New Caledonia: 98800 -> Nouméa, INSEE 98818).

Kept rows: ``type == "commune-actuelle"`` (current communes) and
``type == "arrondissement-municipal"`` (the 45 municipal arrondissements of
Paris, Lyon and Marseille, whose ``commune`` field names the parent commune).
Former, delegated and associated communes are dropped, but their codes serve
to find a bounding box (below).

Bounding boxes
==============
The boxes date from 2017; communes merged, split or renumbered since have
none of their own. Each row takes the first of:

1. ``own``: its own box (``fr:commune:<INSEE code>``);
2. ``former communes``: the union of the boxes of its former codes
   (``anciensCodes``) and of its delegated and associated communes (rows
   whose ``chefLieu`` or ``commune`` is its code): a commune merged or
   renumbered since 2017 covers what they covered;
3. ``parent city``: for a municipal arrondissement, its city's box (75056,
   69123, 13055), larger than the arrondissement;
4. ``department``: its department's box (``fr:departement:<code>``), for a
   commune re-created since 2017 out of another one;
5. none: the overseas collectivities (975, 977, 978, 984, 986, 987, 988,
   989), of which the package has neither communes nor departments nor
   regions.

The script prints how many rows each source gave.

Usage::

    python3 scripts/communes/generate.py                # npm install + generate
    python3 scripts/communes/generate.py \
        --package-dir node_modules/@etalab/decoupage-administratif \
        --bounds-package-dir node_modules/@etalab/fr-bounding-boxes

Python 3.11, standard library only.

Format (version 2)
==================
The file is one zlib stream (RFC 1950, ``zlib.compress(level=9)``, inflated
in Rust by ``miniz_oxide``). The inflated payload is, with ``u8``/``u16``/``u32``
little-endian, ``str8`` a u8 byte length followed by that many UTF-8 bytes,
``varint`` unsigned LEB128 (7 bits per byte, low groups first, high bit set on
all bytes but the last) and ``zigzag(v)`` = ``2v`` for v >= 0, ``-2v - 1``
for v < 0::

    magic        4 bytes  b"CMNS"
    version      u8       2
    source       str8     "@etalab/decoupage-administratif@<version>"
    bounds_source str8    "@etalab/fr-bounding-boxes@<version>"
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
    bounds_origin N x u8  where the row's bounding box comes from (see
                          "Bounding boxes"): 0 none, 1 own, 2 former
                          communes, 3 parent city, 4 department; M is the
                          number of rows with a box (origin != 0)
    west         M x u24 planes  zigzag(west - previous west), previous
                          being the previous row with a box (0 at first)
    south        M x u24 planes  zigzag(south - previous south), likewise
    width        M x u24 planes  east - west
    height       M x u24 planes  north - south
    end          4 bytes  b"END1", then nothing

Box coordinates are longitudes (west, east) and latitudes (south, north) in
units of 1e-4 degree (the source's precision), WGS 84. ``u24 planes`` are
M unsigned numbers below 2**24, written as byte planes: the M high bytes,
then the M middle bytes, then the M low bytes (zlib finds more repeats in
planes than in varints: 222 KB for the boxes instead of 245 KB).
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
BOUNDS_PACKAGE = "@etalab/fr-bounding-boxes"
BOUNDS_VERSION = "0.1.3"
MAGIC = b"CMNS"
FORMAT_VERSION = 2
END = b"END1"

# Where a row's bounding box comes from, as written in ``bounds_origin``.
NO_BOUNDS, OWN, FORMER_COMMUNES, PARENT_CITY, DEPARTMENT = range(5)
ORIGIN_NAMES = ["none", "own", "former communes", "parent city", "department"]
# Box coordinates are stored in units of 1e-4 degree.
UNITS_PER_DEGREE = 10_000

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


def planes24(values: list[int]) -> bytes:
    """Numbers below 2**24 as three byte planes: high, middle, low bytes."""
    for value in values:
        if not 0 <= value < 1 << 24:
            raise ValueError(f"{value} does not fit in 24 bits")
    return b"".join(bytes((value >> shift) & 0xFF for value in values)
                    for shift in (16, 8, 0))


def install_packages(packages: list[str], workdir: Path) -> None:
    """``npm install`` of ``name@version`` specs into ``workdir``."""
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm not found: install Node.js/npm, or pass --package-dir "
                 "and --bounds-package-dir")
    subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(workdir),
         *packages],
        check=True,
    )


def load_json(path: Path):
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def check_version(package_dir: Path, version: str) -> None:
    meta = load_json(package_dir / "package.json")
    if meta.get("version") != version:
        sys.exit(f"{package_dir}: version {meta.get('version')}, expected {version}")


def load_boxes(path: Path, level: str) -> dict[str, tuple[int, int, int, int]]:
    """The boxes of a ``dist/*.json`` file, by code (``fr:<level>:<code>``),
    as (west, south, east, north) in units of 1e-4 degree."""
    prefix = f"fr:{level}:"
    boxes = {}
    for entry in load_json(path):
        if not entry["id"].startswith(prefix):
            sys.exit(f"{path}: unexpected id {entry['id']!r}")
        degrees = entry["bbox"]
        units = tuple(round(d * UNITS_PER_DEGREE) for d in degrees)
        if len(units) != 4 or any(u / UNITS_PER_DEGREE != d
                                  for u, d in zip(units, degrees)):
            sys.exit(f"{entry['id']}: bbox {degrees} is not 4 numbers of 4 decimals")
        west, south, east, north = units
        if not (-180 * UNITS_PER_DEGREE <= west <= east <= 180 * UNITS_PER_DEGREE
                and -90 * UNITS_PER_DEGREE <= south <= north <= 90 * UNITS_PER_DEGREE):
            sys.exit(f"{entry['id']}: bbox {degrees} is not a box")
        code = entry["id"][len(prefix):]
        if code in boxes:
            sys.exit(f"{path}: {code} twice")
        boxes[code] = units
    return boxes


def union(boxes):
    boxes = list(boxes)
    return (min(b[0] for b in boxes), min(b[1] for b in boxes),
            max(b[2] for b in boxes), max(b[3] for b in boxes))


def bounds_of(kept: list[dict], communes_json: list[dict], bounds_dir: Path):
    """Each kept row's (origin, box), the box None when the origin is
    NO_BOUNDS; see "Bounding boxes" above."""
    own = load_boxes(bounds_dir / "dist" / "communes.json", "commune")
    departments = load_boxes(bounds_dir / "dist" / "departements.json",
                             "departement")
    parts: dict[str, list[str]] = {}
    for c in communes_json:
        if c["type"] in ("commune-deleguee", "commune-associee"):
            head = c.get("chefLieu") or c.get("commune")
            parts.setdefault(head, []).append(c["code"])
    result = []
    for c in kept:
        code = c["code"]
        former = [own[old] for old in c.get("anciensCodes", []) + parts.get(code, [])
                  if old in own]
        if code in own:
            result.append((OWN, own[code]))
        elif former:
            result.append((FORMER_COMMUNES, union(former)))
        elif c["type"] == "arrondissement-municipal" and c["commune"] in own:
            result.append((PARENT_CITY, own[c["commune"]]))
        elif c["departement"] in departments:
            result.append((DEPARTMENT, departments[c["departement"]]))
        else:
            result.append((NO_BOUNDS, None))
    return result


def build(package_dir: Path, version: str, bounds_dir: Path,
          bounds_version: str) -> tuple[bytes, dict]:
    check_version(package_dir, version)
    check_version(bounds_dir, bounds_version)
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
    out += str8(f"{BOUNDS_PACKAGE}@{bounds_version}")
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
    bounds = bounds_of(kept, communes_json, bounds_dir)
    for origin, _ in bounds:
        out.append(origin)
    boxes = [box for _, box in bounds if box is not None]
    for axis in (0, 1):
        previous, deltas = 0, []
        for box in boxes:
            deltas.append(zigzag(box[axis] - previous))
            previous = box[axis]
        out += planes24(deltas)
    out += planes24([east - west for west, _, east, _ in boxes])
    out += planes24([north - south for _, south, _, north in boxes])
    out += END

    stats = {
        "communes": sum(1 for c in kept if c["type"] == "commune-actuelle"),
        "arrondissements": sum(1 for c in kept
                               if c["type"] == "arrondissement-municipal"),
        "postal_codes": len(distinct),
        "regions": len(regions),
        "departments": len(departments),
        **{f"bounds {name}": sum(1 for origin, _ in bounds if origin == i)
           for i, name in enumerate(ORIGIN_NAMES)},
        "raw_bytes": len(out),
    }
    return bytes(out), stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=VERSION,
                        help=f"package version (default {VERSION})")
    parser.add_argument("--bounds-version", default=BOUNDS_VERSION,
                        help=f"{BOUNDS_PACKAGE} version (default {BOUNDS_VERSION})")
    parser.add_argument("--package-dir", type=Path,
                        help=f"an already installed {PACKAGE} directory")
    parser.add_argument("--bounds-package-dir", type=Path,
                        help=f"an already installed {BOUNDS_PACKAGE} directory")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="communes-") as tmp:
        modules = Path(tmp) / "node_modules"
        missing = [f"{name}@{version}" for name, version, given in (
            (PACKAGE, args.version, args.package_dir),
            (BOUNDS_PACKAGE, args.bounds_version, args.bounds_package_dir),
        ) if given is None]
        if missing:
            install_packages(missing, Path(tmp))
        package_dir = args.package_dir or modules / PACKAGE
        bounds_dir = args.bounds_package_dir or modules / BOUNDS_PACKAGE
        payload, stats = build(package_dir, args.version, bounds_dir,
                               args.bounds_version)

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
