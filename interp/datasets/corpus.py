"""Load a text corpus and cut it into fixed-length, model-ready token sequences.

Why this module exists: activation capture, SAE training and probing all need the same thing,
a ``[n_seq, seq_len]`` batch of token ids from *real* text, with enough bookkeeping to map
every position back to where it came from. Three choices keep that mapping honest:

* **Chunks never cross a document boundary.** Packing several documents into one sequence
  (as LM pre-training does) makes tokens attend across unrelated texts, which muddies
  anything positional (attention sinks, induction heads, position probes). Here a document's
  last chunk is padded instead, and ``attention_mask`` marks the padding.
* **Each chunk gets the model's own special tokens** (``[CLS] ... [SEP]`` for BERT-style
  encoders, ``BOS ...`` for causal LMs) so that every sequence looks like what the model saw
  in training; ``n_prefix`` says how many special tokens precede the content.
* **Provenance is kept**: ``doc_ids`` and ``doc_offsets`` give, for each row, the source
  document and the offset of its first content token inside that document's tokenization,
  so chunk ``r`` position ``n_prefix + j`` is content token ``doc_offsets[r] + j`` of
  document ``doc_ids[r]``.

The default corpus (``data/corpus/default.jsonl``, see ``data/corpus/README.md``) is
public-domain English prose: two Jane Austen novels and *Moby-Dick* by chapter, and recent
State of the Union addresses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = [
    "DEFAULT_CORPUS",
    "SUPPORTED_SUFFIXES",
    "TokenizedCorpus",
    "iter_batches",
    "load_texts",
    "special_token_counts",
    "tokenize_corpus",
]

DEFAULT_CORPUS: Path = Path(__file__).resolve().parents[2] / "data" / "corpus" / "default.jsonl"
SUPPORTED_SUFFIXES: tuple[str, ...] = (".txt", ".jsonl")
_TOKENIZE_BATCH_DOCS = 64


# --------------------------------------------------------------------------- loading
def _read_txt(path: Path) -> list[str]:
    """One .txt file is one document, unless it contains form feeds, which separate documents."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); give .txt/.jsonl "
                         "files of UTF-8 text.") from None
    return [part.strip() for part in text.split("\f")]


def _utf8_lines(f: Any, path: Path) -> Any:
    """The lines of a text file opened as UTF-8; bytes that are not UTF-8 are a ValueError naming the file."""
    try:
        yield from f
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not UTF-8 text ({exc.reason}); give .txt/.jsonl files of UTF-8 text.") from None


def _read_jsonl(path: Path, text_field: str) -> list[str]:
    docs = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(_utf8_lines(f, path), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}, line {lineno}: invalid JSON ({e.msg})") from None
            if not isinstance(record, dict) or text_field not in record:
                keys = sorted(record) if isinstance(record, dict) else f"a {type(record).__name__}"
                raise ValueError(
                    f"{path}, line {lineno}: no {text_field!r} field; keys present: {keys}"
                )
            text = record[text_field]
            if not isinstance(text, str):
                raise ValueError(
                    f"{path}, line {lineno}: field {text_field!r} is a "
                    f"{type(text).__name__}, expected a string"
                )
            docs.append(text)
    return docs


def _expand(path: Path) -> list[Path]:
    if not path.exists():
        raise FileNotFoundError(f"corpus path not found: {path}")
    if path.is_dir():
        return sorted(
            p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
        )
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise ValueError(
            f"unsupported corpus file {path}: expected one of {', '.join(SUPPORTED_SUFFIXES)}"
            " or a directory of them"
        )
    return [path]


def load_texts(
    paths: str | Path | Sequence[str | Path] | None = None,
    *,
    text_field: str = "text",
    max_docs: int | None = None,
) -> list[str]:
    """Read documents from .txt / .jsonl files or directories of them (default: DEFAULT_CORPUS).

    ``.jsonl``: one document per line, taken from ``text_field``. ``.txt``: the whole file is
    one document, or several if it contains form feeds (``"\\f"``). A directory contributes
    its .txt/.jsonl files (not recursive) in sorted order. Whitespace-only documents are
    skipped; at most ``max_docs`` documents are returned, in file order.
    """
    if paths is None:
        paths = [DEFAULT_CORPUS]
    elif isinstance(paths, (str, Path)):
        paths = [paths]
    roots = [Path(p) for p in paths]
    if max_docs is not None and max_docs < 1:
        raise ValueError(f"max_docs must be >= 1, got {max_docs}")
    files = [f for root in roots for f in _expand(root)]
    docs: list[str] = []
    for f in files:
        new = _read_txt(f) if f.suffix.lower() == ".txt" else _read_jsonl(f, text_field)
        docs.extend(d for d in new if d.strip())
        if max_docs is not None and len(docs) >= max_docs:
            return docs[:max_docs]
    if not docs:
        raise ValueError(f"empty corpus: no non-empty documents in {', '.join(map(str, roots))}")
    return docs


# --------------------------------------------------------------------------- tokenized corpus
@dataclass
class TokenizedCorpus:
    """Fixed-length token sequences, each a slice of exactly one document (see module doc)."""

    tokens: torch.Tensor  # [n_seq, seq_len] int64
    attention_mask: torch.Tensor  # [n_seq, seq_len] int64, 1 = real token (incl. specials)
    doc_ids: torch.Tensor  # [n_seq] int64, index of the source document
    doc_offsets: torch.Tensor  # [n_seq] int64, offset of the first content token in its doc
    n_prefix: int  # special tokens before the content in every row (BOS / [CLS]), or 0
    n_suffix: int = 0  # special tokens right after the content ([SEP]), or 0

    def __post_init__(self) -> None:
        n = self.tokens.shape[0]
        if self.tokens.ndim != 2 or self.attention_mask.shape != self.tokens.shape:
            raise ValueError("tokens and attention_mask must both be [n_seq, seq_len]")
        if self.doc_ids.shape != (n,) or self.doc_offsets.shape != (n,):
            raise ValueError("doc_ids and doc_offsets must be [n_seq]")

    @property
    def seq_len(self) -> int:
        return int(self.tokens.shape[1])

    def __len__(self) -> int:
        return int(self.tokens.shape[0])

    def __getitem__(self, idx: int | slice | Sequence[int] | torch.Tensor) -> TokenizedCorpus:
        """Select rows; an int gives a one-row corpus (tensors stay 2-D / 1-D)."""
        if isinstance(idx, int):
            if not -len(self) <= idx < len(self):
                raise IndexError(f"row {idx} out of range for {len(self)} sequences")
            idx = slice(idx % len(self), idx % len(self) + 1)
        elif not isinstance(idx, slice):
            idx = torch.as_tensor(idx, dtype=torch.long)
        return TokenizedCorpus(
            tokens=self.tokens[idx],
            attention_mask=self.attention_mask[idx],
            doc_ids=self.doc_ids[idx],
            doc_offsets=self.doc_offsets[idx],
            n_prefix=self.n_prefix,
            n_suffix=self.n_suffix,
        )

    def save(self, path: str | Path) -> None:
        """Write a safetensors file (the 4 tensors; ``n_prefix``/``n_suffix`` in the metadata)."""
        from safetensors.torch import save_file

        tensors = {k: getattr(self, k).contiguous() for k in _TENSOR_FIELDS}
        # One metadata key: safetensors writes several keys in hash order, which would make
        # identical corpora differ byte for byte (and break resumable, byte-identical stores).
        special = json.dumps({"n_prefix": self.n_prefix, "n_suffix": self.n_suffix}, sort_keys=True)
        save_file(tensors, str(path), metadata={_META_KEY: special})

    @classmethod
    def load(cls, path: str | Path) -> TokenizedCorpus:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            missing = [k for k in (*_TENSOR_FIELDS, _META_KEY) if k not in {*f.keys(), *meta}]
            if missing:
                raise ValueError(f"{path} is not a saved TokenizedCorpus: missing {missing}")
            tensors: dict[str, Any] = {k: f.get_tensor(k) for k in _TENSOR_FIELDS}
        return cls(**tensors, **special_token_counts(meta))


_TENSOR_FIELDS = ("tokens", "attention_mask", "doc_ids", "doc_offsets")
_META_KEY = "tokenized_corpus"


def special_token_counts(metadata: dict[str, str] | None) -> dict[str, int]:
    """``{"n_prefix", "n_suffix"}`` from a saved corpus file's safetensors metadata."""
    counts = json.loads((metadata or {}).get(_META_KEY, "{}"))
    return {"n_prefix": int(counts.get("n_prefix", 0)), "n_suffix": int(counts.get("n_suffix", 0))}


def _special_tokens(
    tokenizer: PreTrainedTokenizerBase, prepend_bos: bool
) -> tuple[list[int], list[int]]:
    """(prefix, suffix) special-token ids wrapped around every chunk's content."""
    cls_id = getattr(tokenizer, "cls_token_id", None)
    sep_id = getattr(tokenizer, "sep_token_id", None)
    if cls_id is not None and sep_id is not None:
        return [cls_id], [sep_id]
    bos_id = getattr(tokenizer, "bos_token_id", None)
    if prepend_bos and bos_id is not None:
        return [bos_id], []
    return [], []


def tokenize_corpus(
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    seq_len: int,
    *,
    prepend_bos: bool = True,
    max_seqs: int | None = None,
    stride: int | None = None,
) -> TokenizedCorpus:
    """Tokenize ``texts`` and cut each document into ``seq_len``-token rows (see module doc).

    Encoders with [CLS]/[SEP] get ``[CLS] content [SEP]``; other tokenizers get
    ``[BOS] content`` (or bare content if ``prepend_bos`` is False or there is no BOS).
    A document's last chunk is right-padded (pad token, else eos, else 0) with mask 0.
    ``stride`` (default: the content length) is the step between chunk starts; a smaller
    stride makes chunks overlap. Rows come in document order, then chunk order; at most
    ``max_seqs`` of them.
    """
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, not a single string")
    if len(texts) == 0:
        raise ValueError("texts is empty: nothing to tokenize")
    prefix, suffix = _special_tokens(tokenizer, prepend_bos)
    n_special = len(prefix) + len(suffix)
    content_len = seq_len - n_special
    if content_len < 1:
        raise ValueError(
            f"seq_len={seq_len} leaves no room for content next to {n_special} special "
            f"token(s); use seq_len >= {n_special + 1}"
        )
    stride = content_len if stride is None else stride
    if not 1 <= stride <= content_len:
        raise ValueError(f"stride must be in [1, {content_len}] (the content length), got {stride}")
    if max_seqs is not None and max_seqs < 1:
        raise ValueError(f"max_seqs must be >= 1, got {max_seqs}")
    pad_candidates = (tokenizer.pad_token_id, tokenizer.eos_token_id)
    pad_id = next((t for t in pad_candidates if t is not None), 0)

    rows: list[list[int]] = []
    doc_ids: list[int] = []
    offsets: list[int] = []
    for start_doc in range(0, len(texts), _TOKENIZE_BATCH_DOCS):
        batch = list(texts[start_doc : start_doc + _TOKENIZE_BATCH_DOCS])
        encoded = tokenizer(batch, add_special_tokens=False, verbose=False)["input_ids"]
        for i, ids in enumerate(encoded):
            for off in range(0, len(ids), stride):
                rows.append(prefix + list(ids[off : off + content_len]) + suffix)
                doc_ids.append(start_doc + i)
                offsets.append(off)
                if off + content_len >= len(ids) or len(rows) == max_seqs:
                    break
            if len(rows) == max_seqs:
                break
        if len(rows) == max_seqs:
            break
    if not rows:
        raise ValueError(f"the tokenizer produced no tokens for any of the {len(texts)} texts")

    tokens = torch.full((len(rows), seq_len), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), seq_len), dtype=torch.long)
    for r, row in enumerate(rows):
        tokens[r, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[r, : len(row)] = 1
    return TokenizedCorpus(
        tokens=tokens,
        attention_mask=mask,
        doc_ids=torch.tensor(doc_ids, dtype=torch.long),
        doc_offsets=torch.tensor(offsets, dtype=torch.long),
        n_prefix=len(prefix),
        n_suffix=len(suffix),
    )


def iter_batches(corpus: TokenizedCorpus, batch_size: int) -> Iterator[TokenizedCorpus]:
    """Yield consecutive ``batch_size``-row slices of ``corpus`` (the last may be shorter)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for start in range(0, len(corpus), batch_size):
        yield corpus[start : start + batch_size]
