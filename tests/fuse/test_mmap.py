"""Shared writable mmap of an 8 MiB file through a real mount, against an in-memory model.

Random 1 MiB-scale map reads and writes, ``msync``, and ``pread``/``pwrite`` through a descriptor of
the same file (they share the kernel's page cache with the mapping) must always read what the model
holds; after the last ``msync`` and close, another mount reads exactly the model's bytes.
"""
from __future__ import annotations

import mmap
import os
import random
import uuid
from pathlib import Path

SIZE = 8 << 20
MAX_OP = 1 << 20


def test_random_mmap_operations_match_an_in_memory_model(mount: Path, second_mount: Path) -> None:
    rnd = random.Random(20260901)
    name = "mmap-" + uuid.uuid4().hex[:8]
    model = bytearray(rnd.randbytes(SIZE))
    (mount / name).write_bytes(model)
    syncs = 0
    with open(mount / name, "r+b") as f, mmap.mmap(f.fileno(), SIZE) as mapped:
        for step in range(240):
            offset = rnd.randrange(SIZE)
            length = rnd.randrange(1, min(MAX_OP, SIZE - offset) + 1)
            op = rnd.choices(["mapread", "mapwrite", "msync", "pread", "pwrite"], [4, 4, 1, 2, 2])[0]
            if op == "mapread":
                assert mapped[offset:offset + length] == model[offset:offset + length], (step, op, offset)
            elif op == "pread":
                assert os.pread(f.fileno(), length, offset) == model[offset:offset + length], (step, op, offset)
            elif op == "mapwrite":
                data = rnd.randbytes(length)
                mapped[offset:offset + length] = data
                model[offset:offset + length] = data
            elif op == "pwrite":
                data = rnd.randbytes(length)
                assert os.pwrite(f.fileno(), data, offset) == length
                model[offset:offset + length] = data
            else:
                mapped.flush()  # msync(MS_SYNC): the name node has committed every byte so far
                syncs += 1
        mapped.flush()
    assert syncs > 0
    assert os.stat(second_mount / name).st_size == SIZE
    assert (second_mount / name).read_bytes() == model
