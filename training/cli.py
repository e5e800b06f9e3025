"""``tuibao``: the insurers' training workflow in one command line (docs/insurers.md).

    tuibao data lint [--data PATH]     what `rasa data validate` does not check
    tuibao intent new NAME --insurer X scaffold an intent in extensions/X/
    tuibao train [--nlu-only]          train (python -m bot.model train / rasa train nlu)
    tuibao eval                        held-out report: P/R/F1, confusion, latency (HTML + JSON)
    tuibao gate [--update-baseline]    compare with the committed baseline (CI)
    tuibao review export / import      messages from real conversations to label, and back
    tuibao model promote / rollback    load a model into the running Rasa server

Every command works on the project in the current directory (or ``--project``); exit status 0
means done/passed, 1 means findings or a failed gate, 2 means it could not run (and says why).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional

EXIT_OK, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2


def find_project(start: Path) -> Optional[Path]:
    """The nearest folder at or above ``start`` with config.yml and domain.yml."""
    for folder in [start, *start.parents]:
        if (folder / "config.yml").is_file() and (folder / "domain.yml").is_file():
            return folder
    return None


def _rasa() -> str:
    return str(Path(sys.executable).with_name("rasa"))


def _env() -> dict:
    """Training's environment: TensorFlow pinned (bot.determinism), the same on every machine."""
    from bot.determinism import pinned_env

    return {**pinned_env(), "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}


def _default_model(root: Path) -> Path:
    return root / "models" / "tuibao.tar.gz"


# ---------------------------------------------------------------- data lint
def cmd_lint(args) -> int:
    from training import lint

    model = None
    if args.model is not None:  # --model alone: the model the server runs
        model = args.model if args.model != Path("current") else args.project / "models" / "current.tar.gz"
        if not model.exists():
            print(f"tuibao data lint: no model at {model}", file=sys.stderr)
            return EXIT_UNUSABLE
    return lint.run(args.project, args.data, args.min_examples, not args.no_rasa_validate,
                    model=model.resolve() if model else None)


# ---------------------------------------------------------------- intent new
def cmd_intent_new(args) -> int:
    from training import scaffold

    def lines(path: Optional[Path]) -> List[str]:
        if path is None:
            return []
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.lstrip().startswith("#")]

    try:
        written = scaffold.new_intent(
            args.project, args.insurer, args.name, examples=lines(args.examples),
            heldout=lines(args.heldout), response=args.response, test_message=args.test_message)
    except (ValueError, FileExistsError) as error:
        print(f"tuibao intent new: {error}", file=sys.stderr)
        return EXIT_UNUSABLE
    for path in written:
        print(f"wrote {path.relative_to(args.project)}")
    print(f"next: fill in the examples, then `tuibao data lint --data extensions/{args.insurer}`")
    return EXIT_OK


# ---------------------------------------------------------------- train
def train_nlu(root: Path, config: Path, out_dir: Path, name: Optional[str] = None,
              finetune: Optional[Path] = None, epoch_fraction: float = 0.3) -> "tuple[int, Optional[Path]]":
    """``rasa train nlu`` (extensions merged by the importer in the config) into a new version
    ``out_dir/<time>-<fingerprint>-nlu.tar.gz`` with its data fingerprint; ``name`` also points
    ``out_dir/<name>.tar.gz`` at it. With ``finetune``, Rasa continues that model's training for
    a fraction of the epochs; when Rasa refuses (new intents or entities, another config), a
    full NLU training follows and says why."""
    from bot import model as bot_model
    from training import trainer

    out_dir.mkdir(parents=True, exist_ok=True)
    trained_on = bot_model.fingerprint(root)
    version = bot_model.version_name(trained_on, "-nlu")
    base = [_rasa(), "train", "nlu", "--config", str(config), "--nlu", "nlu",
            "--out", str(out_dir), "--fixed-model-name", version]
    log = out_dir / "last-training.log"
    code = None
    if finetune is not None:
        print(f"finetuning {finetune.name} for {epoch_fraction:.0%} of the epochs", flush=True)
        code, progress = trainer.run(base + ["--finetune", str(finetune), "--epoch-fraction",
                                             str(epoch_fraction)], root, _env(), log)
        if code != 0:
            print("Rasa cannot finetune here (" + ("new intents/entities or another config"
                  if progress.finetune_refused else "see " + str(log)) + "): training NLU in full",
                  flush=True)
    if code != 0:
        code, progress = trainer.run(base, root, _env(), log)
    if code != 0:
        print("\n".join(progress.tail[-25:]), file=sys.stderr)
        print(f"rasa train nlu failed (exit {code}); the whole output is in {log}", file=sys.stderr)
        return code, None
    link = name or None
    archive = out_dir / f"{version}.tar.gz"
    (out_dir / f"{version}.fingerprint").write_text(trained_on + "\n")
    if link:
        bot_model.point(out_dir / f"{link}.tar.gz", archive)
        (out_dir / f"{link}.fingerprint").write_text(trained_on + "\n")
    return 0, archive


def cmd_train(args) -> int:
    from bot import model as bot_model
    from training import trainer

    models = args.out or args.project / "models"
    kind = "full" if not args.nlu_only else ("nlu-finetune" if args.finetune is not None else "nlu")
    examples = trainer.count_examples(args.project)
    if not args.nlu_only and not args.force and bot_model.fingerprint(args.project) == (
            (models / "tuibao.fingerprint").read_text().strip()
            if (models / "tuibao.fingerprint").is_file() else None):
        print("tuibao train: models/tuibao.tar.gz is up to date (nothing that shapes the model "
              "changed); --force to train anyway")
        return EXIT_OK
    print(f"tuibao train: {kind}; " + trainer.estimate(models, kind, examples), flush=True)
    started = time.monotonic()
    archive = None
    if args.nlu_only:
        finetune = None
        if args.finetune is not None:
            finetune = args.finetune if args.finetune != Path("latest") else trainer.latest_nlu(models)
            if finetune is None:
                print("tuibao train: no earlier NLU-only model to finetune; training in full")
        code, archive = train_nlu(args.project, args.config or args.project / "config.yml", models,
                                  args.name or "tuibao-nlu", finetune=finetune, epoch_fraction=args.epoch_fraction)
    else:
        cmd = [sys.executable, "-m", "bot.model", "train"] + (["--force"] if args.force else [])
        code, progress = trainer.run(cmd, args.project, _env(), models / "last-training.log")
        if code != 0:
            print("\n".join(progress.tail[-25:]), file=sys.stderr)
        else:
            archive = (models / "tuibao.tar.gz").resolve()
    elapsed = time.monotonic() - started
    if code == 0:
        trainer.record(models, kind, examples, elapsed)
        print(f"tuibao train: {kind} done in {elapsed:.0f} s: {archive.relative_to(args.project) if archive and args.project in archive.parents else archive}")
        print("the server still runs models/current.tar.gz; next: tuibao gate, then tuibao model promote")
    else:
        print(f"tuibao train: {kind} failed (exit {code}) after {elapsed:.0f} s", file=sys.stderr)
    return code


# ---------------------------------------------------------------- eval
def _model_for(args, which: str, config: Optional[Path], model: Optional[Path], scratch: Path):
    from bot.evaluate import resolve_model

    if config is not None:
        code, archive = train_nlu(args.project, config, scratch, f"eval-{which}")
        if code != 0:
            raise RuntimeError(f"training with {config} failed")
        return archive
    found = resolve_model(model)
    if found is None:
        raise FileNotFoundError(f"no model at {model}: train one (tuibao train) or pass --model")
    return found


def cmd_eval(args) -> int:
    from training import report as eval_report

    scratch = args.out / "models"
    try:
        first = _model_for(args, "a", args.config, args.model or _default_model(args.project), scratch)
        second = None
        if args.compare_model or args.compare_config:
            second = _model_for(args, "b", args.compare_config, args.compare_model, scratch)
    except (FileNotFoundError, RuntimeError) as error:
        print(f"tuibao eval: {error}", file=sys.stderr)
        return EXIT_UNUSABLE
    files = [("given", p) for p in args.heldout] if args.heldout else None
    started = time.monotonic()
    reports = [(args.name_a, eval_report.evaluate_model(first, args.project, files))]
    if second is not None:
        reports.append((args.name_b, eval_report.evaluate_model(second, args.project, files)))
    json_path, html_path = eval_report.write_outputs(reports, args.out)
    for name, rep in reports:
        print(eval_report.summary(name, rep))
    print(f"report: {html_path} (open in a browser), {json_path}; eval took "
          f"{time.monotonic() - started:.0f} s")
    return EXIT_OK


# ---------------------------------------------------------------- gate
def _evaluate_cached(model: Path, root: Path, guard=()) -> dict:
    """The held-out report of ``model``; a versioned model's report is kept beside it
    (``<version>.eval.json``) for as long as the held-out files are the same."""
    import hashlib
    import json

    from training import report as eval_report

    digest = hashlib.sha256()
    for _, path in eval_report.heldout_files(root):
        digest.update(path.read_bytes())
    for text, intent, where in guard:
        digest.update(f"{text}\0{intent}\0{where}\n".encode())
    model = model.resolve()
    cache = model.with_name(model.name.replace(".tar.gz", ".eval.json"))
    if cache.is_file():
        kept = json.loads(cache.read_text(encoding="utf-8"))
        if kept.get("heldout_digest") == digest.hexdigest():
            return kept
    from training import gate

    rep = eval_report.evaluate_model(model, root, gate.gate_files(root), guard=guard,
                                     development=gate.development_files(root))
    rep["heldout_digest"] = digest.hexdigest()
    try:
        cache.write_text(json.dumps(rep, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError:
        pass
    return rep


def cmd_gate(args) -> int:
    import json

    from bot import model as bot_model
    from training import collisions, deploy, gate, report as eval_report
    from training.scaffold import core_intents

    root = args.project
    baseline_path = args.baseline or root / gate.BASELINE
    started = time.monotonic()
    # 1. The data: an insurer's example that is a core request fails whatever the model does.
    found, data = collisions.project_collisions(root)
    rel = lambda p: str(p.resolve().relative_to(root)) if root in p.resolve().parents else str(p)
    data_failures = [f"core guard: {rel(c.example.file)}:{c.example.line}: {collisions.describe(c, rel)}"
                     for c in found if c.certain and not c.reviewed_by]
    ext_intents = {intent: insurer for intent, (insurer, _, _) in data.extension_intents.items()}
    core = core_intents(root)
    if data_failures and not args.update_baseline:
        # No model can make these right: fail now rather than after minutes of evaluation.
        for failure in data_failures:
            print(f"FAIL {failure}")
        print("gate: FAILED (the data takes core requests; no model was scored: fix the data "
              "or add a reviewed override, docs/insurers.md)")
        candidate = args.model or _default_model(root)
        # only a model trained on this data carries the verdict (not one trained before it)
        if not args.report and candidate.exists() and \
                candidate.resolve().parent == (root / "models").resolve() and \
                eval_report.model_fingerprint(candidate) == bot_model.fingerprint(root):
            path = deploy.write_verdict(candidate.resolve(), False, data_failures, "core guard (data)")
            print(f"verdict kept in {rel(path)} (tuibao model promote refuses this model)")
        return EXIT_FAILED

    # 2. The candidate, and the model the server runs now, on the same lines.
    model = current_model = None
    current = None
    if args.report:
        reports = json.loads(args.report.read_text(encoding="utf-8"))
        if "overall" in reports:
            rep = reports
        else:  # an eval report.json: {name: report}; the last is the candidate, the first current
            rep = list(reports.values())[-1]
            current = list(reports.values())[0] if len(reports) > 1 else None
        if rep.get("model") and Path(rep["model"]).exists():
            model = Path(rep["model"]).resolve()
    else:
        from bot.evaluate import resolve_model

        model = resolve_model(args.model or _default_model(root))
        if model is None:
            print(f"tuibao gate: no model at {args.model or _default_model(root)}; "
                  "train it first (tuibao train)", file=sys.stderr)
            return EXIT_UNUSABLE
        rep = None
    try:
        fingerprint_now = bot_model.fingerprint(root)
        if rep is None:
            gate.check_fingerprint({"model": str(model),
                                    "model_fingerprint": eval_report.model_fingerprint(model)},
                                   fingerprint_now)
            from bot.determinism import pin_this_process

            pin_this_process()  # score as training ran (bot/determinism.py)
            rep = _evaluate_cached(model, root, guard=collisions.at_risk(root))
        gate.check_fingerprint(rep, fingerprint_now)
    except gate.StaleModel as error:
        print(f"tuibao gate: REFUSED: {error}", file=sys.stderr)
        return EXIT_UNUSABLE
    if current is None and not args.no_compare:
        against = args.against or root / "models" / "current.tar.gz"
        if against.exists() and (model is None or against.resolve() != model.resolve()):
            current_model = against.resolve()
            print(f"comparing with {current_model.name} (what the server runs) on the same lines",
                  flush=True)
            current = _evaluate_cached(current_model, root)

    if args.update_baseline:
        return _update_baseline(args, baseline_path, rep, core)
    if not baseline_path.is_file():
        print(f"tuibao gate: no baseline at {baseline_path}; write one with "
              "`tuibao gate --update-baseline --reason ...` and commit it", file=sys.stderr)
        return EXIT_UNUSABLE
    baseline = gate.load_baseline(baseline_path)
    verdict = gate.decide(baseline, rep, current, core, ext_intents, data_failures)
    overall = rep["overall"]
    print(f"candidate {rep['model']}: macro-F1 {overall['macro_f1']}, identifiers (worst) "
          f"{overall['identifier_accuracy']}; baseline {rel(baseline_path)}")
    pair = verdict["paired"]
    if pair:
        changed = {k: v for k, v in pair["per_intent"].items() if v["lost"] or v["gained"]}
        print(f"against {Path(current['model']).name} on {pair['lines']} shared lines "
              f"({len(changed) - ('(all lines)' in changed)} intents changed):")
        for intent, row in sorted(changed.items(), key=lambda kv: (kv[0] != "(all lines)", kv[1]["p"])):
            print(f"  {gate.describe_change(intent, row)}")
    for intent in gate.unmeasured(baseline, rep):
        print(f"note: core intent {intent} has no held-out lines; the gate cannot guard it")
    for name, figures in (rep.get("development") or {}).items():
        print(f"development set {name} (scored, not gated): intent accuracy "
              f"{figures['intent_accuracy']}, macro-F1 {figures['macro_f1']}")
    for note in verdict["notes"]:
        print(f"note: {note}")
    for failure in verdict["failures"]:
        print(f"FAIL {failure}")
    print("gate: FAILED" if verdict["failures"] else "gate: passed")
    if model is not None and model.parent.resolve() == (root / "models").resolve():
        summary = f"macro-F1 {overall['macro_f1']}; baseline {rel(baseline_path)}"
        path = deploy.write_verdict(model, verdict["passed"], verdict["failures"], summary)
        print(f"verdict kept in {rel(path)} (tuibao model promote reads it)")
    print(f"gate took {time.monotonic() - started:.0f} s")
    return EXIT_FAILED if verdict["failures"] else EXIT_OK


def _update_baseline(args, baseline_path: Path, rep: dict, core) -> int:
    from datetime import datetime, timezone

    from training import gate

    new = gate.baseline_from(rep, core_intents=core)
    old = gate.load_baseline(baseline_path) if baseline_path.is_file() else None
    if old is not None:
        new["tolerances"] = old.get("tolerances", new["tolerances"])
        for key in ("recall_floors",):
            if key in old:
                new[key] = old[key]
    lowered = gate.lowered(old, new) if old else []
    for line in lowered:
        print(f"LOWERS {line}")
    if not lowered:
        print("lowers nothing" if old else "no baseline yet: writing the first one")
    if not args.reason:
        print("tuibao gate --update-baseline: say why with --reason \"...\" (it is kept in the "
              "baseline file with what it lowered); nothing written", file=sys.stderr)
        return EXIT_UNUSABLE
    history = (old or {}).get("history", [])
    history.append({"at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "reason": args.reason, "lowered": lowered})
    new["history"] = history[-20:]
    gate.write_baseline(baseline_path, new)
    print(f"baseline written to {baseline_path}: review the diff and commit it "
          f"(macro-F1 {rep['overall']['macro_f1']})")
    return EXIT_OK


# ---------------------------------------------------------------- review
def cmd_review_export(args) -> int:
    from training import review

    try:
        store_url = args.tracker_store or review.tracker_store_url(args.endpoints, args.project)
    except ValueError as error:
        print(f"tuibao review export: {error}", file=sys.stderr)
        return EXIT_UNUSABLE
    try:
        items = review.collect(store_url, min_confidence=args.min_confidence, since=args.since)
    except (review.TrackerStoreUnavailable, ValueError) as error:
        print(f"tuibao review export: {error}", file=sys.stderr)
        return EXIT_UNUSABLE
    queue = review.ReviewQueue(args.review_db or review.default_review_db(args.project))
    queue.add(items)
    review.write_file(items, args.out)
    by_reason = {}
    for item in items:
        for reason in item.reasons:
            by_reason[reason] = by_reason.get(reason, 0) + item.count
    print(f"{len(items)} distinct messages ({sum(i.count for i in items)} in all) to review: "
          + ", ".join(f"{k} {v}" for k, v in sorted(by_reason.items())))
    print(f"written to {args.out} (fill the label column) and to review_items in {queue.url_masked}")
    return EXIT_OK


def cmd_review_import(args) -> int:
    from training import review

    if args.file is None and not args.from_db:
        print("tuibao review import: give --file FILE (a labelled export) or --from-db", file=sys.stderr)
        return EXIT_UNUSABLE
    queue = review.ReviewQueue(args.review_db or review.default_review_db(args.project))
    labelled = review.read_file(args.file) if args.file else queue.labelled()
    result = review.fold_in(args.project, labelled, dry_run=args.dry_run)
    for line in result.lines:
        print(line)
    if not args.dry_run and not args.file:
        queue.mark_imported([item.item_id for item in result.imported])
    print(f"{len(result.imported)} examples folded in, {len(result.skipped)} skipped")
    return EXIT_FAILED if result.errors else EXIT_OK


# ---------------------------------------------------------------- model promote / rollback
def cmd_model(args) -> int:
    from training import deploy

    servers = [deploy.RasaServer(url, args.token, timeout=args.timeout) for url in args.url]
    try:
        if args.model_command == "promote":
            model = args.model or _default_model(args.project)
            result = deploy.promote(args.project, servers, model, skip_gate=args.skip_gate)
        elif args.model_command == "rollback":
            result = deploy.rollback(args.project, servers)
        else:
            print("\n".join(deploy.status(args.project, server) for server in servers))
            return EXIT_OK
    except deploy.GateRefused as error:
        print(f"tuibao model {args.model_command}: REFUSED: {error}", file=sys.stderr)
        return EXIT_FAILED
    except deploy.DeployError as error:
        print(f"tuibao model {args.model_command}: {error}", file=sys.stderr)
        return EXIT_UNUSABLE
    print(result)
    return EXIT_OK


# ---------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tuibao", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="See docs/insurers.md for the whole path.")
    parser.add_argument("--project", type=Path, default=None,
                        help="the project folder (default: the one containing the current directory)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = sub.add_parser("data", help="check the training data")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    lint = data_sub.add_parser("lint", help="duplicates across intents, real-looking identifiers, "
                               "held-out leaks, missing responses … each with file, line, fix")
    lint.add_argument("--data", type=Path, action="append", default=[],
                      help="report only findings in this file or folder (repeatable); the rest "
                           "of the project is still read for cross-checks")
    lint.add_argument("--min-examples", type=int, default=10, help="fewest examples an intent may have")
    lint.add_argument("--no-rasa-validate", action="store_true",
                      help="skip `rasa data validate --fail-on-warnings`")
    lint.add_argument("--model", type=Path, nargs="?", const=Path("current"),
                      help="the core guard also reads the insurers' examples with a model (alone: "
                      "models/current.tar.gz, what the server runs; loading it takes a minute or "
                      "more); without it, the similarity check alone")
    lint.set_defaults(func=cmd_lint)

    intent = sub.add_parser("intent", help="an insurer's own intents")
    intent_sub = intent.add_subparsers(dest="intent_command", required=True, metavar="SUBCOMMAND")
    new = intent_sub.add_parser("new", help="scaffold examples, response, rule, test story and "
                                "held-out lines in extensions/<insurer>/")
    new.add_argument("name", help="the intent, snake_case, e.g. cancel_auto_renewal")
    new.add_argument("--insurer", required=True, help="insurer id, e.g. hengxin")
    new.add_argument("--examples", type=Path, help="a text file, one training example a line")
    new.add_argument("--heldout", type=Path, help="a text file, one held-out line a line "
                     "(written by someone who has not read the examples)")
    new.add_argument("--response", help="the bot's answer (polite 您 form)")
    new.add_argument("--test-message", help="the user message of the test story "
                     "(default: the first example)")
    new.set_defaults(func=cmd_intent_new)

    train = sub.add_parser("train", help="train: full (python -m bot.model train) or NLU-only "
                           "(rasa train nlu)")
    train.add_argument("--nlu-only", action="store_true", help="NLU only (rasa train nlu), into "
                       "models/<time>-<fingerprint>-nlu.tar.gz; models/tuibao-nlu.tar.gz points to it")
    train.add_argument("--finetune", type=Path, nargs="?", const=Path("latest"),
                       help="NLU-only: continue an earlier NLU model (default the newest) for "
                       "--epoch-fraction of the epochs; Rasa allows it only when no intent or "
                       "entity was added and the config is the same (else a full NLU training)")
    train.add_argument("--epoch-fraction", type=float, default=0.3, help="with --finetune")
    train.add_argument("--config", type=Path, help="NLU-only: another config file")
    train.add_argument("--out", type=Path, help="NLU-only: output folder (default models/)")
    train.add_argument("--name", default=None, help="NLU-only: also point models/NAME.tar.gz at "
                       "the new version (default tuibao-nlu)")
    train.add_argument("--force", action="store_true", help="full: train even if nothing changed")
    train.set_defaults(func=cmd_train)

    ev = sub.add_parser("eval", help="held-out report: per-intent P/R/F1, macro-F1, identifiers, "
                        "confusion matrix, most-confused pairs, latency; two models side by side")
    ev.add_argument("--model", type=Path, help="model archive or folder (default models/tuibao.tar.gz)")
    ev.add_argument("--compare-model", type=Path, help="a second model to compare with")
    ev.add_argument("--config", type=Path, help="train NLU-only with this config and evaluate it")
    ev.add_argument("--compare-config", type=Path, help="… and compare with this config")
    ev.add_argument("--heldout", type=Path, action="append", default=[],
                    help="held-out file (repeatable; default: tests/heldout and every insurer's)")
    ev.add_argument("--out", type=Path, default=Path("results") / "eval", help="report folder")
    ev.add_argument("--name-a", default="baseline", help="label of the first model")
    ev.add_argument("--name-b", default="candidate", help="label of the second model")
    ev.set_defaults(func=cmd_eval)

    gate = sub.add_parser("gate", help="fail when the candidate falls below the committed baseline")
    gate.add_argument("--model", type=Path, help="candidate model (default models/tuibao.tar.gz)")
    gate.add_argument("--report", type=Path, help="use an eval report.json instead of evaluating")
    gate.add_argument("--baseline", type=Path, help="default tests/heldout/baseline.json")
    gate.add_argument("--update-baseline", action="store_true",
                      help="write the candidate's figures as the new baseline (then review and "
                      "commit); prints every figure it lowers and needs --reason")
    gate.add_argument("--reason", help="why the baseline changes (kept in the file)")
    gate.add_argument("--against", type=Path, help="the model to compare with on the same lines "
                      "(default models/current.tar.gz, what the server runs)")
    gate.add_argument("--no-compare", action="store_true", help="floors only, no paired comparison")
    gate.set_defaults(func=cmd_gate)

    review = sub.add_parser("review", help="messages from real conversations to label")
    review_sub = review.add_subparsers(dest="review_command", required=True, metavar="SUBCOMMAND")
    export = review_sub.add_parser("export", help="fallbacks, low scores, corrections and "
                                   "handoffs from the tracker store, masked and deduplicated")
    export.add_argument("--tracker-store", help="SQLAlchemy URL of the tracker store "
                        "(default: tracker_store in --endpoints)")
    export.add_argument("--endpoints", type=Path, default=Path("endpoints.yml"))
    export.add_argument("--since", help="only messages after this ISO date/time (UTC)")
    export.add_argument("--min-confidence", type=float, default=0.7,
                        help="messages scored below this count as low")
    export.add_argument("--out", type=Path, default=Path("results") / "review.csv",
                        help="the file to label (.csv or .yml)")
    export.add_argument("--review-db", help="SQLAlchemy URL of the review_items table "
                        "(default $TUIBAO_REVIEW_DB_URL or sqlite:///var/review.db)")
    export.set_defaults(func=cmd_review_export)
    imp = review_sub.add_parser("import", help="fold labelled messages into the right data folder")
    imp.add_argument("--file", type=Path, help="a labelled export (.csv or .yml)")
    imp.add_argument("--from-db", action="store_true", help="the labels trainers set in the console")
    imp.add_argument("--review-db", help="as for export")
    imp.add_argument("--dry-run", action="store_true", help="say what would be written")
    imp.set_defaults(func=cmd_review_import)

    model = sub.add_parser("model", help="the model the running Rasa server uses")
    model_sub = model.add_subparsers(dest="model_command", required=True, metavar="SUBCOMMAND")
    for name, text in (("promote", "load a model into the running server (PUT /model), keeping "
                        "the previous one"), ("rollback", "load the previous model again"),
                       ("status", "which model the server runs, and the previous one")):
        cmd = model_sub.add_parser(name, help=text)
        if name == "promote":
            cmd.add_argument("--model", type=Path, help="default models/tuibao.tar.gz (the newest "
                             "trained model)")
            cmd.add_argument("--skip-gate", action="store_true", help="promote a model that was "
                             "never gated (one that failed the gate is refused all the same)")
        cmd.add_argument("--url", action="append", default=None,
                         help="a Rasa server (repeatable: replicas are loaded one after the "
                         "other; default $TUIBAO_RASA_URL or http://127.0.0.1:5005)")
        cmd.add_argument("--token", default=os.environ.get("TUIBAO_API_TOKEN", "tuibao-demo-api-token"),
                         help="its API token ($TUIBAO_API_TOKEN)")
        cmd.add_argument("--timeout", type=float, default=300, help="seconds to wait for the load")
        cmd.set_defaults(func=cmd_model)

    from training import report_funnel  # tuibao report funnel

    report_funnel.add_parser(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    project = (args.project or find_project(Path.cwd()))
    if project is None:
        print("tuibao: no project here (a folder with config.yml and domain.yml); "
              "cd into it or pass --project", file=sys.stderr)
        return EXIT_UNUSABLE
    args.project = project.resolve()
    if getattr(args, "command", None) == "model" and not args.url:
        args.url = [os.environ.get("TUIBAO_RASA_URL", "http://127.0.0.1:5005")]
    # The project's own code (bot.*) is imported from the project, not from wherever tuibao
    # was installed from.
    sys.path.insert(0, str(args.project))
    for attr in ("out",):
        value = getattr(args, attr, None)
        if isinstance(value, Path) and not value.is_absolute():
            setattr(args, attr, args.project / value)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
