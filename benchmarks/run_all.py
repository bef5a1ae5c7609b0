"""Run every benchmark one after the other (each prints its own figures side by side).

    make benchmarks        # or: .venv/bin/python benchmarks/run_all.py [--skip-quality]

Run on a quiet machine: the figures are wall-clock rates on this machine's cores. The real data
lives beside the checkout in ../shared/data and is not part of the project.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("STUDIO_MODEL_CACHE", ROOT / "var" / "model-cache"))


def run(*args: str) -> None:
    print(f"\n$ {' '.join(args)}", flush=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "STUDIO_MODEL_CACHE": str(CACHE)}
    subprocess.run([sys.executable, *args], cwd=ROOT, env=env, check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-quality", action="store_true", help="skip the CLINC150 and SMS spam runs")
    args = parser.parse_args()
    tokenizer = CACHE / "smollm2-135m-instruct" / "tokenizer.json"
    run("benchmarks/ingest_throughput.py")
    run("benchmarks/ingest_web_hold.py")
    if tokenizer.exists():
        run("benchmarks/ingest_throughput.py", "--tokenizer", str(tokenizer))
    run("benchmarks/training_throughput.py", "--engine-batches", "16,32")
    run("benchmarks/shared_host.py", "--compare")
    run("benchmarks/serving_engine.py", "--cache", str(CACHE))
    run("benchmarks/serving_http.py", "--cache", str(CACHE))
    # llama.cpp's server on the same GGUF (builds llama-cpp-python into var/llama-venv the first time).
    run("benchmarks/serving_llamacpp.py", "--cache", str(CACHE))
    run("benchmarks/extraction_constrained.py", "--cache", str(CACHE))
    run("benchmarks/dashboard_render.py")
    # The studio as users run it (scripts/run.sh): bounded load, then the REST journey's time to value.
    run("benchmarks/load_test.py", "--cache", str(CACHE))
    if not args.skip_quality:
        run("benchmarks/time_to_value.py", "--cache", str(CACHE))
    if not args.skip_quality:
        # The quality run's adapter is the model version the eval-throughput benchmark measures.
        adapters = ROOT / "var" / "benchmarks" / "balanced"
        run("benchmarks/training_quality.py", "--cache", str(CACHE), "--keep", str(adapters))
        run("benchmarks/eval_throughput.py", "--cache", str(CACHE), "--adapter", str(adapters / "clinc150"))
        run("benchmarks/eval_calibration.py", "--cache", str(CACHE), "--adapter", str(adapters / "clinc150"))


if __name__ == "__main__":
    main()
