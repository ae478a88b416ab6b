"""The check a writer makes before it extends the open segment of a log it (re)opens.

A writer that continued an edited segment would append after the edit and, at the next rotation,
sign a checkpoint over it: the forgery would then carry the writer's own signature. So before the
first append the whole open segment is checked as ``verify`` would check it (every line's hash, the
chain from the previous checkpoint, the segment header) and against the latest digest the witness
holds. A damaged segment is never extended: the writer seals it with a checkpoint that says it was
found damaged (so ``verify`` reports it) and continues in a new segment, recording the fault there.
"""

from __future__ import annotations

import json
from pathlib import Path

from gatekeeper.audit._format import KIND_SEGMENT


def open_segment_problem(
    path: Path,
    *,
    first_seq: int,
    first_prev: str,
    prev_checkpoint: str | None,
    witness_head: tuple[int, str] | None,
) -> str | None:
    """What is wrong with the open segment at ``path``, or None when it may be extended.

    ``first_seq``/``first_prev`` are where the segment must start (after the previous checkpoint);
    ``witness_head`` is ``(seq, head_hash)`` of the latest digest published to the witness.
    """
    from gatekeeper.audit.verify import _check_anchor, _scan_file

    scan = _scan_file(str(path))
    if scan.count == 0 and scan.bad_line is None:
        return _behind(witness_head, first_seq - 1)
    if scan.bad_line is not None:
        return f"line {scan.bad_line}" + (f", seq {scan.bad_seq}" if scan.bad_seq else "") + f": {scan.bad_message}"
    if scan.first_seq != first_seq or scan.first_prev != first_prev:
        return (f"its first record is seq {scan.first_seq} but the log before it ends at seq {first_seq - 1}: "
                "it does not follow on from the previous checkpoint")
    try:
        header = json.loads(scan.header or b"")
        data = header["data"] if header.get("kind") == KIND_SEGMENT else None
    except (ValueError, KeyError, TypeError, AttributeError):
        data = None
    if not isinstance(data, dict) or data.get("segment") != path.name \
            or data.get("prev_checkpoint") != prev_checkpoint:
        return "its first record is not its own segment header (renamed, swapped or rewritten)"
    last = scan.last_seq or 0
    behind = _behind(witness_head, last)
    if behind or witness_head is None or witness_head[0] < first_seq:
        return behind
    problem = _check_anchor(path.parent, witness_head, last)
    return None if problem is None else f"seq {witness_head[0]}: {problem.message} (the witness digest)"


def _behind(witness_head: tuple[int, str] | None, last: int) -> str | None:
    if witness_head is not None and witness_head[0] > last:
        return (f"the log ends at seq {last} but the witness holds a digest for seq {witness_head[0]}: "
                f"records {last + 1}..{witness_head[0]} were removed")
    return None
