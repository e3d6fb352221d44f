"""An incremental LSH index of wrapper signatures, with families kept as a union-find forest.

Storage is log-structured so that memory stays near 1 KB a report at a million reports: each of
the ``BANDS`` band keys of a report goes first into a small dict (the buffer); full buffers become
sorted numpy runs (key, report) and runs of similar size are merged, as in an LSM tree. A lookup is
one ``searchsorted`` per run for all bands at once, plus dict lookups in the buffer.

Families: a new report joins every earlier report whose wrapper is similar enough *and* whose
targets overlap (or are unknown); families that a report bridges are merged, and a family is named
after its earliest member so names stay stable as reports arrive.

Pure module: numpy only. The database keeps the same facts for the service (``triage.models``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from clearinghouse.triage.engine.sketch import BANDS, BINS, Signature, band_keys, band_keys_many

FLUSH_REPORTS = 4096  # buffered reports before their band keys become a sorted run
MAX_BUCKET = 16  # candidates read per band bucket: one family member is enough to find a family


@dataclass(frozen=True, slots=True)
class Candidate:
    index: int
    score: float


class SimilarityIndex:
    def __init__(self) -> None:
        self._refs: list[str] = []
        self._signatures = np.zeros((1024, BINS), dtype=np.uint32)
        self._parents = np.zeros(1024, dtype=np.int64)
        self._target_ids = np.zeros(1024, dtype=np.int32)
        self._target_sets: list[frozenset[tuple[str, str]]] = []
        self._target_lookup: dict[frozenset[tuple[str, str]], int] = {}
        self._exact: dict[bytes, int] = {}
        self._payload_keys = np.zeros(1024, dtype=np.uint64)
        # Scratch space for de-duplicating positions without sorting or hashing (see _distinct).
        self._scratch = np.zeros(1024, dtype=np.int64)
        # Per target set: which known target sets overlap it, as a boolean row (see
        # overlapping_mask); dropped when a new target set appears.
        self._overlap_rows: dict[int, npt.NDArray[np.bool_]] = {}
        self._runs: list[tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64]]] = []
        self._buffer: dict[int, list[int]] = {}
        self._buffered_reports = 0

    # ---- size and growth ---------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._refs)

    def _grow(self, needed: int) -> None:
        capacity = self._signatures.shape[0]
        if needed <= capacity:
            return
        new_capacity = max(needed, capacity * 2)
        self._signatures = np.resize(self._signatures, (new_capacity, BINS))
        self._parents = np.resize(self._parents, new_capacity)
        self._target_ids = np.resize(self._target_ids, new_capacity)
        self._payload_keys = np.resize(self._payload_keys, new_capacity)
        self._scratch = np.zeros(new_capacity, dtype=np.int64)

    def memory_bytes(self) -> int:
        """Bytes held by the numpy parts (signatures, runs, bookkeeping arrays)."""
        total = (
            self._signatures.nbytes
            + self._parents.nbytes
            + self._target_ids.nbytes
            + self._payload_keys.nbytes
        )
        total += sum(keys.nbytes + ids.nbytes for keys, ids in self._runs)
        return int(total)

    # ---- targets -----------------------------------------------------------------------------

    def _target_id(self, targets: frozenset[tuple[str, str]]) -> int:
        found = self._target_lookup.get(targets)
        if found is None:
            found = len(self._target_sets)
            self._target_sets.append(targets)
            self._target_lookup[targets] = found
            self._overlap_rows.clear()
        return found

    def _overlaps(self, target_id: int, other_id: int) -> bool:
        if target_id == other_id:
            return True
        mine, theirs = self._target_sets[target_id], self._target_sets[other_id]
        # Unknown targets overlap everything: a report that names no model cannot start a split.
        return not mine or not theirs or not mine.isdisjoint(theirs)

    # ---- families ----------------------------------------------------------------------------

    def family_of(self, index: int) -> int:
        """The earliest member of ``index``'s family (path-halving find)."""
        parents = self._parents
        while parents[index] != index:
            parents[index] = parents[parents[index]]
            index = int(parents[index])
        return index

    def _union(self, a: int, b: int) -> int:
        root_a, root_b = self.family_of(a), self.family_of(b)
        if root_a == root_b:
            return root_a
        root, child = (root_a, root_b) if root_a < root_b else (root_b, root_a)
        self._parents[child] = root
        return root

    def ref(self, index: int) -> str:
        return self._refs[index]

    # ---- lookup ------------------------------------------------------------------------------

    def _candidate_ids(self, keys: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
        found: list[npt.NDArray[np.int64]] = []
        for run_keys, run_ids in self._runs:
            highs = np.searchsorted(run_keys, keys, side="right")
            lows = np.maximum(np.searchsorted(run_keys, keys, side="left"), highs - MAX_BUCKET)
            lengths = highs - lows
            total = int(lengths.sum())
            if total:
                # All the bands' slices at once: each slice's start, repeated over its length,
                # plus a running position inside it.
                starts = np.repeat(lows - (np.cumsum(lengths) - lengths), lengths)
                found.append(run_ids[starts + np.arange(total)])
        buffered: list[int] = []
        for key in keys.tolist():
            bucket = self._buffer.get(key)
            if bucket:
                buffered.extend(bucket[-MAX_BUCKET:])
        if buffered:
            found.append(np.asarray(buffered, dtype=np.int64))
        if not found:
            return np.zeros(0, dtype=np.int64)
        return self._distinct(np.concatenate(found))

    def _distinct(self, ids: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """``ids`` without repeats, in no particular order; O(len(ids)), no sort, no hash table.

        Each position writes its own offset into a scratch slot for its id; whichever write wins,
        exactly one offset per id reads itself back. (np.unique cost a fifth of placement.)
        """
        offsets = np.arange(ids.size)
        scratch = self._scratch
        scratch[ids] = offsets
        distinct: npt.NDArray[np.int64] = ids[scratch[ids] == offsets]
        return distinct

    def query_arrays(
        self,
        signature: Signature,
        *,
        minimum: float = 0.0,
        keys: npt.NDArray[np.uint64] | None = None,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """``query`` as two arrays (positions, scores), most similar first.

        Placement reads hundreds of candidates per report in a dense corpus; arrays keep that in C.
        """
        ids = self._candidate_ids(band_keys(signature) if keys is None else keys)
        if ids.size == 0:
            return ids, np.zeros(0, dtype=np.float64)
        agreement = np.count_nonzero(self._signatures[ids] == signature, axis=1) / BINS
        keep = agreement >= minimum
        ids, agreement = ids[keep], agreement[keep]
        order = np.lexsort((ids, -agreement))  # ties: the earlier report first
        return ids[order], agreement[order]

    def query(
        self,
        signature: Signature,
        *,
        minimum: float = 0.0,
        keys: npt.NDArray[np.uint64] | None = None,
    ) -> list[Candidate]:
        """Earlier reports sharing a band with ``signature``, most similar first.

        ``keys`` are the signature's band keys when the caller has them already.
        """
        ids, scores = self.query_arrays(signature, minimum=minimum, keys=keys)
        return [
            Candidate(index, score)
            for index, score in zip(ids.tolist(), scores.tolist(), strict=True)
        ]

    def exact_match(self, exact_key: bytes) -> int | None:
        return self._exact.get(exact_key)

    def payload_key(self, index: int) -> int:
        return int(self._payload_keys[index])

    def overlapping(self, index: int, targets: frozenset[tuple[str, str]]) -> bool:
        return self._overlaps(self._target_id(targets), int(self._target_ids[index]))

    def overlapping_mask(
        self, ids: npt.NDArray[np.int64], targets: frozenset[tuple[str, str]]
    ) -> npt.NDArray[np.bool_]:
        """``overlapping`` for many positions: one test per distinct target set, not per report."""
        if ids.size == 0:
            return np.zeros(0, dtype=np.bool_)
        mine = self._target_id(targets)
        row = self._overlap_rows.get(mine)
        if row is None:
            # Few distinct target sets exist (a catalog's models), so a row per set is small.
            row = np.fromiter(
                (self._overlaps(mine, other) for other in range(len(self._target_sets))),
                dtype=np.bool_,
                count=len(self._target_sets),
            )
            if len(self._target_sets) <= 65_536:
                self._overlap_rows[mine] = row
        return row[self._target_ids[ids]]

    def payload_keys(self, ids: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
        return self._payload_keys[ids]

    def family_roots(self, ids: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The distinct families of ``ids`` (their roots), found by pointer jumping in numpy.

        A report in a dense corpus joins dozens of members of one family: finding each root in a
        Python loop cost more than the rest of placement.
        """
        if ids.size == 0:
            return ids
        parents = self._parents
        current = ids
        while True:
            above = parents[current]
            if np.array_equal(above, current):
                break
            current = above
        parents[ids] = current  # path compression, as family_of does one at a time
        return self._distinct(current)

    # ---- insertion ---------------------------------------------------------------------------

    def add(
        self,
        *,
        ref: str,
        signature: Signature,
        targets: frozenset[tuple[str, str]],
        exact_key: bytes,
        payload_key: int,
        join: Iterable[int] = (),
        keys: npt.NDArray[np.uint64] | None = None,
    ) -> int:
        """Store a report; ``join`` lists earlier reports of its family. Returns its index."""
        index = len(self._refs)
        self._grow(index + 1)
        self._refs.append(ref)
        self._signatures[index] = signature
        self._parents[index] = index
        self._target_ids[index] = self._target_id(targets)
        self._payload_keys[index] = np.uint64(payload_key)
        self._exact.setdefault(exact_key, index)
        for other in join:
            self._union(index, other)
        for key in (band_keys(signature) if keys is None else keys).tolist():
            self._buffer.setdefault(key, []).append(index)
        self._buffered_reports += 1
        if self._buffered_reports >= FLUSH_REPORTS:
            self._flush()
        return index

    def _flush(self) -> None:
        if not self._buffer:
            return
        keys = np.fromiter((key for key, ids in self._buffer.items() for _ in ids), dtype=np.uint64)
        ids = np.fromiter((i for bucket in self._buffer.values() for i in bucket), dtype=np.int64)
        self._buffer = {}
        self._buffered_reports = 0
        order = np.lexsort((ids, keys))
        self._runs.append((keys[order], ids[order]))
        # Merge runs of similar size (a binary counter): O(log n) runs, each entry merged
        # O(log n) times.
        while len(self._runs) >= 2 and self._runs[-1][0].size * 2 >= self._runs[-2][0].size:
            newer_keys, newer_ids = self._runs.pop()
            older_keys, older_ids = self._runs.pop()
            keys = np.concatenate([older_keys, newer_keys])
            ids = np.concatenate([older_ids, newer_ids])
            order = np.lexsort((ids, keys))
            self._runs.append((keys[order], ids[order]))

    def bulk_load(
        self,
        refs: list[str],
        signatures: npt.NDArray[np.uint32],
        targets: frozenset[tuple[str, str]],
    ) -> None:
        """Append many reports as singleton families in one sorted run (benchmarks, rebuilds)."""
        start = len(self._refs)
        count = len(refs)
        self._grow(start + count)
        self._refs.extend(refs)
        self._signatures[start : start + count] = signatures
        self._parents[start : start + count] = np.arange(start, start + count)
        self._target_ids[start : start + count] = self._target_id(targets)
        all_keys = band_keys_many(signatures).reshape(-1)
        all_ids = np.repeat(np.arange(start, start + count, dtype=np.int64), BANDS)
        order = np.lexsort((all_ids, all_keys))
        self._flush()
        self._runs.insert(0, (all_keys[order], all_ids[order]))
