"""The worked example of docs/insurers.md, end to end, on a copy of the project:

恒信 adds ``cancel_auto_renewal``. A Rasa server runs the core-only model with a (redacting) SQLite
tracker store; customers' messages about auto-renewal fall back; ``tuibao review export`` lists
them masked; the intent is scaffolded (``tuibao intent new``) with the examples kept in
extensions/hengxin/, a trainer labels a message through the review API, ``review import`` folds
it in, ``data lint`` is clean, an NLU-only model is trained, ``eval`` shows the new intent at
F1 ≥ 0.9 on its own held-out lines, ``gate`` passes against the core-only baseline (the core
moved within tolerance), ``model promote`` swaps the server to it while requests keep flowing,
the same message is understood, and ``rollback`` returns to the old model. A planted batch of
mislabelled examples fails the gate, naming the intent; a model trained on other data is refused.

Models are trained NLU-only with the project's pipeline at fewer epochs (1 to 6 minutes each on
2 cores); the real extension is trained into the main model by ``python -m bot.model train``.
"""
from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest
import requests
import yaml
from rasa.shared.nlu.training_data.loading import load_data

from harness.services import PYTHON, free_port, service
from tests.training.conftest import ROOT, copy_project, tuibao
from training.review import ReviewQueue, label_choices

# Three NLU trainings and four evaluations: minutes each on 2 shared cores.
pytestmark = pytest.mark.timeout(3600)

TOKEN = "tuibao-test-api-token"
HENGXIN = ROOT / "extensions" / "hengxin"
INTENT = "cancel_auto_renewal"
PHONE = "13912345678"
WITH_PHONE = f"我手机{PHONE}，每个月被扣钱的那个自动续费在哪关"
ASKED = "每月的自动续费扣款咋关呀"  # the message a trainer labels; not in any data file


# A third of the project's 60 epochs. At 10, three of 恒信's twelve held-out lines
# (我不想让它自动续了, 扣费服务怎么解除, 取消掉代扣) stayed under the 0.75 fallback threshold
# (F1 0.857, on the CI machine and here alike); at 20 all twelve are read right (lowest 0.753).
EPOCHS = 20


def _small_config(project: Path, epochs: int = EPOCHS) -> None:
    """The project's pipeline and seeds, fewer epochs: the same kind of model, trained faster."""
    config = (project / "config.yml").read_text(encoding="utf-8")
    (project / "config.yml").write_text(re.sub(r"epochs: \d+", f"epochs: {epochs}", config),
                                        encoding="utf-8")


def _train(project: Path, name: str) -> Path:
    started = time.monotonic()
    done = tuibao(project, "train", "--nlu-only", "--name", name, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    print(f"NLU-only training ({name}): {time.monotonic() - started:.0f} s")
    return project / "models" / f"{name}.tar.gz"


def _examples(path: Path):
    return [m.get("text") for m in load_data(str(path)).intent_examples]


@pytest.fixture(scope="module")
def core(tmp_path_factory):
    """A core-only copy of the project, its model, and the gate's baseline from that model."""
    project = copy_project(tmp_path_factory.mktemp("core") / "project", with_extensions=False)
    _small_config(project)
    model = _train(project, "core")
    baseline = project / "baseline.json"
    done = tuibao(project, "gate", "--model", str(model), "--baseline", str(baseline),
                  "--update-baseline", "--reason", "the core-only model of the worked example")
    assert done.returncode == 0, done.stdout + done.stderr
    assert INTENT not in json.loads(baseline.read_text())["intent_f1"]
    return project, model, baseline


@pytest.fixture
def rasa_server(core, tmp_path):
    project, model, _ = core
    port = free_port()
    tracker_db = tmp_path / "tracker.db"
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(yaml.safe_dump({"tracker_store": {
        "type": "bot.tracker_store.RedactingSQLTrackerStore", "dialect": "sqlite",
        "db": str(tracker_db)}}), encoding="utf-8")
    url = f"http://127.0.0.1:{port}"
    with service([PYTHON, "-m", "rasa", "run", "--enable-api", "--auth-token", TOKEN, "-p",
                  str(port), "--model", str(model), "--endpoints", str(endpoints)],
                 f"{url}/", env={"RASA_TELEMETRY_ENABLED": "false"}, timeout=240,
                 log_name="training-rasa"):
        yield url, f"sqlite:///{tracker_db}"


def _say(url: str, sender: str, text: str) -> dict:
    answer = requests.post(f"{url}/conversations/{sender}/messages", params={"token": TOKEN},
                           json={"text": text, "sender": "user"}, timeout=60)
    answer.raise_for_status()
    return [e for e in answer.json()["events"] if e["event"] == "user"][-1]["parse_data"]


def _answer(url: str, sender: str, text: str) -> None:
    """The bot's answer in the conversation (the NLU-only server predicts no actions)."""
    answer = requests.post(f"{url}/conversations/{sender}/tracker/events", params={"token": TOKEN},
                           json=[{"event": "bot", "text": text}], timeout=60)
    answer.raise_for_status()


def _parse(url: str, text: str) -> dict:
    answer = requests.post(f"{url}/model/parse", params={"token": TOKEN}, json={"text": text},
                           timeout=60)
    answer.raise_for_status()
    return answer.json()


def test_worked_example_from_fallback_to_promoted_model(core, rasa_server, tmp_path):
    project, core_model, baseline = core
    url, tracker_url = rasa_server

    # 1. Customers ask; the core model has no such intent, answers something else, and the
    #    customer says so ("不对": a correction, whatever the model's confidence was).
    first = _say(url, "rest:customer-1", WITH_PHONE)
    second = _say(url, "rest:customer-2", ASKED)
    assert second["intent"]["name"] != INTENT
    print("core model:", first["intent"], second["intent"])
    for sender in ("rest:customer-1", "rest:customer-2"):
        _answer(url, sender, "好的，请把保单号发给我。")
        assert _say(url, sender, "不对")["intent"]["name"] == "deny"

    # 2. Export: both messages, masked, with why they were picked.
    review_db = f"sqlite:///{tmp_path / 'review.db'}"
    export = tuibao(project, "review", "export", "--tracker-store", tracker_url,
                    "--review-db", review_db, "--out", str(tmp_path / "review.yml"))
    assert export.returncode == 0, export.stderr
    exported = (tmp_path / "review.yml").read_text(encoding="utf-8")
    assert PHONE not in exported
    rows = {r["text"]: r for r in yaml.safe_load(exported)["review_items"]}
    assert "我手机139****5678，每个月被扣钱的那个自动续费在哪关" in rows
    assert "corrected" in rows[ASKED]["reasons"]

    # 3. Scaffold the intent with the worked example's lines (as docs/insurers.md does).
    (tmp_path / "examples.txt").write_text(
        "\n".join(_examples(HENGXIN / "data/nlu" / f"{INTENT}.yml")), encoding="utf-8")
    (tmp_path / "heldout.txt").write_text(
        "\n".join(_examples(HENGXIN / "tests/heldout" / f"{INTENT}.yml")), encoding="utf-8")
    response = yaml.safe_load((HENGXIN / "domain" / f"{INTENT}.yml").read_text(encoding="utf-8"))[
        "responses"][f"utter_{INTENT}"][0]["text"]
    scaffold = tuibao(project, "intent", "new", INTENT, "--insurer", "hengxin",
                      "--examples", str(tmp_path / "examples.txt"),
                      "--heldout", str(tmp_path / "heldout.txt"), "--response", response)
    assert scaffold.returncode == 0, scaffold.stderr
    ext = project / "extensions" / "hengxin"
    for rel in ("domain", "data/nlu", "data/rules", "tests/stories", "tests/heldout"):
        assert (ext / rel / f"{INTENT}.yml").is_file(), rel
    assert _examples(ext / "data/nlu" / f"{INTENT}.yml") == _examples(HENGXIN / "data/nlu" / f"{INTENT}.yml")

    # 4. A trainer labels the second message in the console (review API); import folds it in.
    queue = ReviewQueue(review_db)
    item = next(i for i in queue.items() if i.text == ASKED)
    queue.set_label(item.item_id, INTENT, "trainer-wang", label_choices(project))
    imported = tuibao(project, "review", "import", "--from-db", "--review-db", review_db)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert ASKED in _examples(ext / "data/nlu" / f"{INTENT}.yml")
    assert "labelled by trainer-wang" in (ext / "data/nlu" / f"{INTENT}.yml").read_text(encoding="utf-8")

    # 5. Lint clean (rasa data validate included: the importer merges the folder).
    lint = tuibao(project, "data", "lint", "--data", "extensions/hengxin")
    assert lint.returncode == 0, lint.stdout
    assert "0 errors" in lint.stdout and "rasa data validate: clean" in lint.stdout

    # 6. Train, eval side by side.
    candidate = _train(project, "candidate")
    started = time.monotonic()
    evaluated = tuibao(project, "eval", "--model", str(core_model), "--compare-model",
                       str(candidate), "--out", str(tmp_path / "eval"))
    print(f"eval of two models: {time.monotonic() - started:.0f} s")
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr
    report = json.loads((tmp_path / "eval" / "report.json").read_text(encoding="utf-8"))
    new = report["candidate"]["sources"]["hengxin"]["per_intent"][INTENT]
    assert new["f1"] >= 0.9, new
    assert report["candidate"]["overall"]["per_intent"][INTENT]["precision"] >= 0.85
    page = (tmp_path / "eval" / "report.html").read_text(encoding="utf-8")
    assert page.count("<img") >= 3 and INTENT in page and "ΔF1" in page
    assert (tmp_path / "eval" / "confusion-candidate.png").read_bytes()[:4] == b"\x89PNG"

    # 7. Gate: the core moved within tolerance of the core-only baseline.
    started = time.monotonic()
    gate = tuibao(project, "gate", "--report", str(tmp_path / "eval" / "report.json"),
                  "--baseline", str(baseline))
    print(f"gate: {time.monotonic() - started:.0f} s")
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert "gate: passed" in gate.stdout

    # 8. Promote while requests keep coming: none fails; the message is now understood.
    results, stop = [], threading.Event()

    def traffic():
        while not stop.is_set():
            try:
                answer = requests.post(f"{url}/model/parse", params={"token": TOKEN},
                                       json={"text": "我要退保"}, timeout=120)
                results.append(answer.status_code)
            except requests.RequestException as error:
                results.append(type(error).__name__)
            time.sleep(0.05)

    worker = threading.Thread(target=traffic)
    worker.start()
    try:
        started = time.monotonic()
        promote = tuibao(project, "model", "promote", "--model", str(candidate), "--url", url,
                         "--token", TOKEN)
        print(f"promote: {time.monotonic() - started:.1f} s")
        time.sleep(1)
    finally:
        stop.set()
        worker.join(timeout=150)
    assert promote.returncode == 0, promote.stdout + promote.stderr
    assert len(results) >= 5 and set(results) == {200}, results
    assert _parse(url, ASKED)["intent"]["name"] == INTENT
    assert _parse(url, "怎么关闭自动扣费")["intent"]["name"] == INTENT

    # 9. Rollback returns to the core model.
    rollback = tuibao(project, "model", "rollback", "--url", url, "--token", TOKEN)
    assert rollback.returncode == 0, rollback.stdout + rollback.stderr
    assert _parse(url, ASKED)["intent"]["name"] != INTENT
    bad_token = tuibao(project, "model", "rollback", "--url", url, "--token", "wrong")
    assert bad_token.returncode == 2 and "refused the API token" in bad_token.stderr


def test_gate_fails_on_mislabelled_batch_and_refuses_a_stale_model(core, tmp_path):
    _, core_model, baseline = core
    project = copy_project(tmp_path / "project", with_extensions=False)
    _small_config(project)  # as the baseline's model: the relabelling is the only difference
    # An import gone wrong: every refund-time question relabelled as a fee question, in every
    # core data file (the core data says it in several files).
    relabelled = 0
    for path in sorted((project / "nlu").glob("*.yml")):
        text = path.read_text(encoding="utf-8")
        if "- intent: ask_refund_time\n" in text:
            relabelled += text.count("- intent: ask_refund_time\n")
            path.write_text(text.replace("- intent: ask_refund_time\n", "- intent: ask_surrender_fee\n"),
                            encoding="utf-8")
    assert relabelled >= 1
    assert not [m for m in load_data(str(project / "nlu")).intent_examples
                if m.get("intent") == "ask_refund_time"]

    stale = tuibao(project, "gate", "--model", str(core_model), "--baseline", str(baseline))
    assert stale.returncode == 2
    assert "the gate scores only a model trained on the current data" in stale.stderr

    regressed = _train(project, "regressed")
    gate = tuibao(project, "gate", "--model", str(regressed), "--baseline", str(baseline))
    print(gate.stdout)
    assert gate.returncode == 1
    assert "FAIL intent ask_refund_time: F1" in gate.stdout
    assert re.search(r"FAIL intent ask_refund_time: .*its lines went to ask_surrender_fee", gate.stdout)
    assert "gate: FAILED" in gate.stdout
    # The verdict is about the change: only the intents the relabelling touched fail.
    failed = set(re.findall(r"FAIL (?:core guard: core )?intent (\w+)", gate.stdout))
    assert "ask_refund_time" in failed and failed <= {"ask_refund_time", "ask_surrender_fee"}, failed
