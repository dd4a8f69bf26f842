"""``InferenceResult``: what an inference run did, measured while it ran."""
from __future__ import annotations

import html
import os
import resource
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

_SAMPLE_SECONDS = 0.02
#: Failure messages a run's metrics keep (the first ones: later failures are usually the same).
_KEPT_ERRORS = 20


@dataclass(frozen=True, kw_only=True)
class InferenceResult:
    """Measured figures of one inference run.

    ``total_samples`` counts the rows given to the model (rows with a NULL input are
    ``skipped_samples``); ``success_rate`` is the share of them that got outputs.
    ``throughput_samples_per_sec`` is ``total_samples / duration_seconds`` over the timed run
    (warm-up batches excluded). ``gpu_utilization_pct`` is the share of the run the GPU spent
    in model calls (0.0 on the CPU: no GPU was used; ``device`` says where the model ran);
    ``peak_memory_gb`` is the GPU's peak allocated memory on a GPU, else the process's peak
    resident memory during the run.
    """

    transform: str
    total_samples: int
    successful_samples: int
    failed_samples: int
    skipped_samples: int
    duration_seconds: float
    throughput_samples_per_sec: float
    gpu_utilization_pct: float
    peak_memory_gb: float
    rows_written: int
    device: str
    target: str | None = None
    warnings: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    @classmethod
    def from_metrics(cls, metrics: Mapping[str, Any], *, rows_written: int | None = None,
                     target: str | None = None) -> "InferenceResult":
        """The result of a job run from the metrics its inference transform recorded
        (:func:`batch_metrics` per batch, merged by :func:`combine_metrics`).

        ``duration_seconds`` spans the first batch's start to the last batch's end (on every
        worker together); ``gpu_utilization_pct`` is the share of the workers' batch time spent
        in model calls. ``rows_written`` defaults to the rows that got outputs."""
        total = metrics["samples"] + metrics["failed"]
        duration = max(0.0, metrics["finished"] - metrics["started"]) if total or metrics["batches"] else 0.0
        busy = metrics["busy_seconds"]
        gpu = min(100.0, 100.0 * metrics["model_seconds"] / busy) if busy and metrics["device"] == "cuda" else 0.0
        return cls(
            transform=metrics["transform"], total_samples=total, successful_samples=metrics["samples"],
            failed_samples=metrics["failed"], skipped_samples=metrics["skipped"], duration_seconds=duration,
            throughput_samples_per_sec=total / duration if duration else 0.0, gpu_utilization_pct=gpu,
            peak_memory_gb=metrics["peak_memory_bytes"] / 1e9,
            rows_written=metrics["samples"] if rows_written is None else rows_written,
            device=metrics["device"], target=target, warnings=tuple(metrics.get("warnings", ())),
            errors=tuple(metrics.get("errors", ())),
        )

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> "InferenceResult":
        """The result kept with a job run (:meth:`to_record`)."""
        fields = {k: v for k, v in record.items() if k in cls.__dataclass_fields__}
        return cls(**{**fields, "warnings": tuple(fields.get("warnings", ())),
                      "errors": tuple(fields.get("errors", ()))})

    def to_record(self) -> dict[str, Any]:
        """The figures as plain JSON values (with ``success_rate``), as a job run keeps them."""
        record = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return {**record, "success_rate": self.success_rate, "warnings": list(self.warnings),
                "errors": list(self.errors)}

    @property
    def success_rate(self) -> float:
        return self.successful_samples / self.total_samples if self.total_samples else 1.0

    def __repr__(self) -> str:
        gpu = f"{self.gpu_utilization_pct:.0f}%"
        return (f"InferenceResult({self.transform!r}: {self.total_samples:,} samples, "
                f"{self.success_rate:.2%} ok, {self.throughput_samples_per_sec:.1f}/s on {self.device}, "
                f"{self.duration_seconds:.2f}s, GPU {gpu}, peak {self.peak_memory_gb:.2f} GB, "
                f"{self.rows_written:,} rows written)")

    def _repr_html_(self) -> str:
        rows = [("transform", self.transform), ("target", self.target or ""),
                ("samples", f"{self.total_samples:,}"), ("success rate", f"{self.success_rate:.2%}"),
                ("throughput", f"{self.throughput_samples_per_sec:.1f} samples/s"),
                ("duration", f"{self.duration_seconds:.2f} s"), ("device", self.device),
                ("GPU utilization", f"{self.gpu_utilization_pct:.0f}%"),
                ("peak memory", f"{self.peak_memory_gb:.2f} GB"), ("rows written", f"{self.rows_written:,}")]
        rows += [("warning", w) for w in self.warnings] + [("error", e) for e in self.errors]
        body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                       for k, v in rows)
        return f"<table>{body}</table>"


def batch_metrics(transform: str, device: str, *, samples: int, failed: int, skipped: int,
                  model_seconds: float, measured: "Measurement", started: float,
                  errors: Iterable[str] = (), warnings: Iterable[str] = ()) -> dict[str, Any]:
    """The metrics of one inference batch (plain JSON values, so a run can keep them): counts,
    its wall span as epoch seconds (``started`` .. now), and its ``measured`` time and memory."""
    return {
        "transform": transform, "device": device, "batches": 1, "samples": samples, "failed": failed,
        "skipped": skipped, "started": started, "finished": time.time(),
        "busy_seconds": measured.duration_seconds, "model_seconds": model_seconds,
        "peak_memory_bytes": measured.peak_bytes, "errors": list(errors)[:_KEPT_ERRORS],
        "warnings": list(warnings),
    }


def combine_metrics(parts: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """One set of metrics from several batches' or workers': counts and times add up, the span
    runs from the earliest start to the latest end, memory is the highest peak (each worker
    measures its own process or GPU)."""
    combined: dict[str, Any] | None = None
    for part in parts:
        if combined is None:
            combined = {**part, "errors": list(part["errors"]), "warnings": list(part["warnings"])}
            continue
        for key in ("batches", "samples", "failed", "skipped", "busy_seconds", "model_seconds"):
            combined[key] += part[key]
        combined["started"] = min(combined["started"], part["started"])
        combined["finished"] = max(combined["finished"], part["finished"])
        combined["peak_memory_bytes"] = max(combined["peak_memory_bytes"], part["peak_memory_bytes"])
        combined["errors"] = (combined["errors"] + list(part["errors"]))[:_KEPT_ERRORS]
        combined["warnings"] += [w for w in part["warnings"] if w not in combined["warnings"]]
        if part["device"] == "cuda":
            combined["device"] = "cuda"
    return combined


class Measurement:
    """Wall time and peak memory of a block: GPU allocations on a GPU, process RSS otherwise."""

    def __init__(self, device: str) -> None:
        self.gpu = device == "cuda"
        self.duration_seconds = 0.0
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None

    def __enter__(self) -> "Measurement":
        if self.gpu:
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        else:
            self.peak_bytes = _rss_bytes()
            self._sampler = threading.Thread(target=self._sample, name="raise-rss", daemon=True)
            self._sampler.start()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        if self.gpu:
            import torch

            torch.cuda.synchronize()
            self.peak_bytes = torch.cuda.max_memory_allocated()
        self.duration_seconds = time.perf_counter() - self._start
        self._stop.set()
        if self._sampler is not None:
            self._sampler.join()
            self.peak_bytes = max(self.peak_bytes, _rss_bytes())

    def _sample(self) -> None:
        while not self._stop.wait(_SAMPLE_SECONDS):
            self.peak_bytes = max(self.peak_bytes, _rss_bytes())

    @property
    def peak_memory_gb(self) -> float:
        return self.peak_bytes / 1e9


def _rss_bytes() -> int:
    """Current resident memory of this process (peak since start where /proc is absent)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
