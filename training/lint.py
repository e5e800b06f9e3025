"""``tuibao data lint``: what ``rasa data validate`` does not check, each finding with file, line
and a fix.

Errors (exit status 1):
- ``too-few-examples``: an intent (or faq topic) with fewer than ``min_examples`` examples;
- ``duplicate-across-intents``: the same example under two intents once width, case, spaces and
  punctuation are normalised (``normalise_example``);
- ``real-identifier``: a valid GB 11643 ID number or a mobile number that is not one of the
  sandbox insurer's test holders (``sandbox_insurer/seed.py``) in examples or responses;
- ``heldout-leak``: a training example that also sits in a held-out file;
- ``missing-response``: a rule or story runs ``utter_x`` that has no response, or an insurer's
  intent has no rule or story answering it; ``faq-without-answer``: a faq topic with no
  ``utter_faq/<topic>``; ``intent-without-examples`` / ``intent-not-in-domain``;
  ``placeholder``: a response still reading TODO (as ``tuibao intent new`` writes it).
Warnings (reported, exit status 0):
- ``near-duplicate``: the same example up to modal particles (吗 呢 吧 啊 呀 …) under two intents;
  ``duplicate``: the same example twice under one intent;
- ``untrimmed``: an example or response with leading/trailing or doubled spaces;
- ``full-width``: full-width letters or digits in a response (bot sentences are half-width),
  or in an example that annotates no identifier.
"""
from __future__ import annotations

import re
import subprocess
import sys
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

from training.extensions import discover

ERROR, WARNING, NOTE = "error", "warning", "note"
MIN_EXAMPLES = 10
_PUNCTUATION = re.compile(r"[\s\W_]+", re.UNICODE)
_PARTICLES = re.compile(r"[吗嘛呢吧啊呀哦哈啦嘞呗么了的]+")
_FULL_WIDTH = re.compile(r"[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")
_INTENT_LINE = re.compile(r"^- intent:\s*(\S+)")
_EXAMPLE_LINE = re.compile(r"^(\s+)- (.*)$")
_UTTER_KEY = re.compile(r"^  (utter_[\w/]+):\s*$")
_TEXT_LINE = re.compile(r"^\s+-?\s*text:\s*(.*)$")
_STEP_INTENT = re.compile(r"^\s+- intent:\s*(\S+)")
_STEP_ACTION = re.compile(r"^\s+- action:\s*(\S+)")
_DOMAIN_INTENT = re.compile(r"^  - ([\w/]+)")


@dataclass(frozen=True)
class Finding:
    """One thing to fix, where it is, and how."""

    severity: str
    code: str
    file: Path
    line: int
    message: str
    fix: str

    def render(self, root: Path) -> str:
        try:
            where = self.file.relative_to(root)
        except ValueError:
            where = self.file
        return f"{where}:{self.line}: {self.severity} [{self.code}] {self.message}\n    fix: {self.fix}"


@dataclass(frozen=True)
class Example:
    text: str
    intent: str  # faq/<topic> for the retrieval intent
    file: Path
    line: int
    raw: str  # the line as written, annotations included


@dataclass(frozen=True)
class ResponseText:
    name: str
    text: str
    file: Path
    line: int


@dataclass
class ProjectData:
    """The core and every extension, read line by line so each finding can point at its line."""

    examples: List[Example] = field(default_factory=list)
    heldout: List[Example] = field(default_factory=list)
    responses: List[ResponseText] = field(default_factory=list)
    domain_intents: Dict[str, Tuple[Path, int]] = field(default_factory=dict)
    extension_intents: Dict[str, Tuple[str, Path, int]] = field(default_factory=dict)
    rule_intents: Set[str] = field(default_factory=set)
    rule_actions: List[Tuple[str, Path, int]] = field(default_factory=list)


def normalise_example(text: str) -> str:
    """Width, case, spaces and punctuation folded: what makes two examples 'the same'."""
    return _PUNCTUATION.sub("", unicodedata.normalize("NFKC", text).lower())


def _near_key(text: str) -> str:
    return _PARTICLES.sub("", normalise_example(text))


def plain_text(raw: str) -> str:
    """An example line without Rasa's entity annotations."""
    from rasa.shared.nlu.training_data import entities_parser

    return entities_parser.replace_entities(raw)


def read_examples(path: Path) -> List[Example]:
    """The examples of a Rasa NLU YAML file, with their line numbers."""
    found: List[Example] = []
    intent: Optional[str] = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        head = _INTENT_LINE.match(line)
        if head:
            intent = head.group(1)
            continue
        if re.match(r"^[^\s#]", line):  # another top-level item: - regex:, responses:, …
            intent = None
            continue
        match = _EXAMPLE_LINE.match(line)
        if intent and match and len(match.group(1)) >= 4:
            raw = match.group(2)
            found.append(Example(plain_text(raw), intent, path, number, raw))
    return found


def read_responses(path: Path) -> List[ResponseText]:
    """``utter_*`` texts of a domain (or NLU) file under its top-level ``responses:``."""
    found: List[ResponseText] = []
    in_responses, name = False, None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if re.match(r"^\S", line) and not line.startswith("#"):
            in_responses, name = line.startswith("responses:"), None
            continue
        if not in_responses:
            continue
        key = _UTTER_KEY.match(line)
        if key:
            name = key.group(1)
            continue
        text = _TEXT_LINE.match(line)
        if name and text:
            value = text.group(1).strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            found.append(ResponseText(name, value, path, number))
    return found


def read_domain_intents(path: Path) -> Dict[str, Tuple[Path, int]]:
    intents: Dict[str, Tuple[Path, int]] = {}
    in_intents = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if re.match(r"^\S", line) and not line.startswith("#"):
            in_intents = line.startswith("intents:")
            continue
        match = _DOMAIN_INTENT.match(line)
        if in_intents and match:
            intents[match.group(1)] = (path, number)
    return intents


def read_steps(path: Path) -> Tuple[Set[str], List[Tuple[str, Path, int]]]:
    intents, actions = set(), []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        step = _STEP_INTENT.match(line)
        if step:
            intents.add(step.group(1))
        action = _STEP_ACTION.match(line)
        if action:
            actions.append((action.group(1), path, number))
    return intents, actions


def _yml(folder: Path) -> List[Path]:
    if folder.is_file():
        return [folder]
    return sorted(folder.rglob("*.yml")) if folder.is_dir() else []


def load_project(root: Path, extra_nlu: Sequence[Path] = ()) -> ProjectData:
    """Read the core data, every extension and the held-out files of the project at ``root``."""
    data = ProjectData()
    nlu_files = _yml(root / "nlu")
    domain_files = [root / "domain.yml"] if (root / "domain.yml").is_file() else []
    story_files = _yml(root / "stories")
    heldout_files = _yml(root / "tests" / "heldout")
    for ext in discover(root):
        nlu_files += ext.files(ext.data_dir)
        story_files += ext.files(ext.data_dir)
        domain_files += ext.files(ext.domain_dir)
        heldout_files += ext.files(ext.heldout_dir)
        for path in ext.files(ext.domain_dir):
            for intent, (p, n) in read_domain_intents(path).items():
                data.extension_intents[intent] = (ext.insurer, p, n)
    for path in extra_nlu:
        for file in _yml(path):
            if file not in nlu_files and file not in heldout_files:
                nlu_files.append(file)
    for path in nlu_files:
        data.examples += read_examples(path)
        data.responses += read_responses(path)
    for path in heldout_files:
        data.heldout += read_examples(path)
    for path in domain_files:
        data.domain_intents.update(read_domain_intents(path))
        data.responses += read_responses(path)
    for path in story_files:
        intents, actions = read_steps(path)
        data.rule_intents |= intents
        data.rule_actions += actions
    return data


def _test_identities(root: Path) -> Set[str]:
    """The sandbox insurer's documented test holders: their ID numbers and phones are fine."""
    try:
        sys.path.insert(0, str(root))
        from sandbox_insurer import seed
    except ImportError:
        return set()
    finally:
        sys.path.remove(str(root))
    holders = [getattr(seed, n) for n in dir(seed) if isinstance(getattr(seed, n), dict)]
    return {str(h[k]) for h in holders for k in ("holder_id_number", "holder_phone") if k in h}


def _identifier_findings(text: str, path: Path, line: int, allowed: Set[str]) -> List[Finding]:
    from ground.identifiers import ID_NUMBER, PHONE_NUMBER, find_identifiers

    from redaction import redact

    findings = []
    for span in find_identifiers(text):
        if span.value in allowed or not span.valid:
            continue
        if span.entity == ID_NUMBER and len(span.value) == 18:
            what = "a valid GB 11643 ID number"
        elif span.entity == PHONE_NUMBER:
            what = "a real-looking mobile number"
        else:
            continue
        findings.append(Finding(
            ERROR, "real-identifier", path, line, f"{what} ({redact(span.value)}) in training data",
            "use a sandbox test holder's number (sandbox_insurer/seed.py) or one with a wrong "
            "check character; never a customer's"))
    return findings


def lint(root: Path, paths: Sequence[Path] = (), min_examples: int = MIN_EXAMPLES,
         model: Optional[Path] = None) -> List[Finding]:
    """Every finding in the project at ``root``; with ``paths``, only findings located in them
    (the rest of the project is still read, so a duplicate of a core example is caught)."""
    root, paths = root.resolve(), [p.resolve() for p in paths]
    data = load_project(root, paths)

    def _rel(file: Path) -> str:  # unambiguous: two insurers may both have change_bank_card.yml
        try:
            return str(file.resolve().relative_to(root))
        except ValueError:
            return str(file)
    allowed = _test_identities(root)
    findings: List[Finding] = []

    by_intent: Dict[str, List[Example]] = defaultdict(list)
    for example in data.examples:
        by_intent[example.intent].append(example)
    for intent, examples in sorted(by_intent.items()):
        if len(examples) < min_examples:
            first = examples[0]
            findings.append(Finding(
                ERROR, "too-few-examples", first.file, first.line,
                f"intent {intent} has {len(examples)} examples (at least {min_examples})",
                "add examples in the words customers use (tuibao review export finds them)"))

    seen: Dict[str, Example] = {}
    near: Dict[str, Example] = {}
    for example in data.examples:
        key = normalise_example(example.text)
        if not key:
            continue
        other = seen.get(key)
        if other is None:
            seen[key] = example
        elif other.intent != example.intent:
            findings.append(Finding(
                ERROR, "duplicate-across-intents", example.file, example.line,
                f"'{example.text}' ({example.intent}) is the same as '{other.text}' "
                f"({other.intent}) at {_rel(other.file)}:{other.line}",
                "keep it under the one intent it means, delete the other"))
        else:
            findings.append(Finding(
                WARNING, "duplicate", example.file, example.line,
                f"'{example.text}' repeats {_rel(other.file)}:{other.line} under {example.intent}",
                "delete one of them"))
        near_key = _near_key(example.text)
        twin = near.setdefault(near_key, example) if near_key else example
        if twin is not example and twin.intent != example.intent and key != normalise_example(twin.text):
            findings.append(Finding(
                WARNING, "near-duplicate", example.file, example.line,
                f"'{example.text}' ({example.intent}) differs from '{twin.text}' "
                f"({twin.intent}) at {_rel(twin.file)}:{twin.line} only by particles",
                "check both labels; keep the example under one intent"))

    def leak_key(text: str) -> str:
        # An emoji-only line folds to nothing: compare it as written instead.
        return normalise_example(text) or text.strip()

    heldout = {}
    for line in data.heldout:
        heldout.setdefault(leak_key(line.text), line)
    for example in data.examples:
        leak = heldout.get(leak_key(example.text))
        if leak is not None:
            findings.append(Finding(
                ERROR, "heldout-leak", example.file, example.line,
                f"'{example.text}' is also held-out line {_rel(leak.file)}:{leak.line}",
                "delete it from the training data (held-out lines only measure) or write a "
                "different example"))

    for example in data.examples:
        findings += _identifier_findings(example.text, example.file, example.line, allowed)
        if example.raw != example.raw.strip() or "  " in example.raw:
            findings.append(Finding(WARNING, "untrimmed", example.file, example.line,
                                    f"'{example.raw}' has extra spaces", "trim it"))
        if _FULL_WIDTH.search(example.raw) and "](" not in example.raw and "]{" not in example.raw:
            findings.append(Finding(
                WARNING, "full-width", example.file, example.line,
                f"'{example.text}' has full-width letters or digits",
                "write it half-width unless the full-width form is the point of the example"))
    for response in data.responses:
        findings += _identifier_findings(response.text, response.file, response.line, allowed)
        if response.text.startswith("TODO"):
            findings.append(Finding(ERROR, "placeholder", response.file, response.line,
                                    f"{response.name} is still the scaffold's placeholder",
                                    "write the answer the bot gives (您, a date written once)"))
        if response.text != response.text.strip() or "  " in response.text:
            findings.append(Finding(WARNING, "untrimmed", response.file, response.line,
                                    f"{response.name} has extra spaces", "trim it"))
        if _FULL_WIDTH.search(response.text):
            findings.append(Finding(WARNING, "full-width", response.file, response.line,
                                    f"{response.name} has full-width letters or digits",
                                    "bot sentences write letters and digits half-width"))

    response_names = {r.name for r in data.responses}
    for action, path, line in data.rule_actions:
        if action.startswith("utter_") and action not in response_names and action != "utter_faq":
            findings.append(Finding(
                ERROR, "missing-response", path, line, f"{action} has no response",
                f"add {action} with its text under responses: in the domain (or the insurer's "
                "domain/ folder)"))
    for intent, (insurer, path, line) in sorted(data.extension_intents.items()):
        if intent not in data.rule_intents:
            findings.append(Finding(
                ERROR, "missing-response", path, line,
                f"{insurer}'s intent {intent} has no rule or story that answers it",
                f"add extensions/{insurer}/data/rules/{intent}.yml (tuibao intent new writes one)"))
    topics = {e.intent for e in data.examples if e.intent.startswith("faq/")}
    for topic in sorted(topics):
        if f"utter_{topic}" not in response_names:
            first = by_intent[topic][0]
            findings.append(Finding(ERROR, "faq-without-answer", first.file, first.line,
                                    f"{topic} has examples but no utter_{topic}",
                                    f"add utter_{topic} under responses: next to its examples"))
    base_intents = {i.split("/")[0] for i in by_intent}
    for intent, (path, line) in sorted(data.domain_intents.items()):
        if intent not in base_intents:
            findings.append(Finding(ERROR, "intent-without-examples", path, line,
                                    f"intent {intent} is in the domain but has no examples",
                                    "add examples, or remove the intent"))
    for intent in sorted(base_intents - set(data.domain_intents)):
        first = by_intent.get(intent, None) or next(v for k, v in by_intent.items()
                                                    if k.split("/")[0] == intent)
        findings.append(Finding(ERROR, "intent-not-in-domain", first[0].file, first[0].line,
                                f"intent {intent} has examples but is not in any domain",
                                "add it under intents: (the insurer's domain/ folder for its own "
                                "intents)"))

    findings += _collision_findings(root, data, _rel)
    if model is not None:
        findings += _model_findings(root, data, model, paths, _rel)
    if paths:
        findings = [f for f in findings if any(_within(f.file, p) for p in paths)]
    order = {ERROR: 0, WARNING: 1, NOTE: 2}
    return sorted(findings, key=lambda f: (order[f.severity], str(f.file), f.line, f.code))


def _is_extension(root: Path, file: Path) -> bool:
    return (root / "extensions").resolve() in file.resolve().parents


def _collision_findings(root: Path, data: "ProjectData", rel) -> List[Finding]:
    """The core guard without a model: an insurer's example that reads as a core request."""
    from training import collisions

    ext = [e for e in data.examples if _is_extension(root, e.file)]
    core = [e for e in data.examples + data.heldout if not _is_extension(root, e.file)]
    found = []
    for c in collisions.find(root, ext, core):
        text = collisions.describe(c, rel)
        if c.reviewed_by:
            found.append(Finding(NOTE, "core-override", c.example.file, c.example.line,
                                 f"{text}; kept by the reviewed override of {c.reviewed_by} "
                                 f"({c.reason})", "nothing to do (reviewed)"))
        else:
            found.append(Finding(
                ERROR if c.certain else WARNING, "core-collision" if c.certain else "core-similar",
                c.example.file, c.example.line, text,
                f"an insurer's intent may not take a core request: delete the example or write "
                f"it so it cannot mean {c.core_intent}; if it must stay, add a reviewed override "
                f"to extensions/<insurer>/{collisions.OVERRIDES} (docs/insurers.md)"))
    return found


MODEL_CONFIDENT = 0.8


def _model_findings(root: Path, data: "ProjectData", model: Path, paths: Sequence[Path],
                    rel) -> List[Finding]:
    """The core guard with the running model: an insurer's example it reads as a core intent
    with confidence ``MODEL_CONFIDENT`` or more (a warning with the confidence and the nearest
    core example of that intent; the similarity check above decides errors)."""
    import asyncio

    from training import collisions
    from training.report import _parse_timed
    from training.scaffold import core_intents

    guarded = set(core_intents(root)) - collisions.UNGUARDED
    ext = [e for e in data.examples if _is_extension(root, e.file)
           and (not paths or any(_within(e.file, p) for p in paths))]
    if not ext:
        return []
    parses, _ = asyncio.run(_parse_timed(model, [e.text for e in ext]))
    core = [e for e in data.examples if not _is_extension(root, e.file)]
    found = []
    for example, parse in zip(ext, parses):
        intent = (parse.get("intent") or {}).get("name") or ""
        confidence = (parse.get("intent") or {}).get("confidence") or 0.0
        if intent not in guarded or intent == example.intent or confidence < MODEL_CONFIDENT:
            continue
        nearest = max((c for c in core if c.intent.split("/")[0] == intent),
                      key=lambda c: collisions.similarity(example.text, c.text)[0], default=None)
        near = (f"; nearest core example '{nearest.text}' at {rel(nearest.file)}:{nearest.line}"
                if nearest is not None else "")
        found.append(Finding(
            WARNING, "model-reads-core", example.file, example.line,
            f"the running model ({model.name}) reads '{example.text}' ({example.intent}) as core "
            f"{intent} with confidence {confidence:.2f}{near}",
            f"make sure it cannot mean {intent}; the gate checks the trained candidate"))
    return found


def _within(file: Path, path: Path) -> bool:
    file = file.resolve()
    return file == path or path in file.parents


def rasa_validate(root: Path) -> Tuple[int, str]:
    """``rasa data validate --fail-on-warnings`` on the project (extensions merged by the
    importer in config.yml)."""
    rasa = Path(sys.executable).with_name("rasa")
    run = subprocess.run([str(rasa), "data", "validate", "--fail-on-warnings", "--config",
                          "config.yml", "--domain", "domain.yml", "--data", "nlu", "stories"],
                         cwd=root, capture_output=True, text=True, timeout=600)
    return run.returncode, run.stdout + run.stderr


def _concerns(root: Path, paths: Sequence[Path]) -> Set[str]:
    """Words a Rasa warning about the change would name: the intents, responses and file
    names under ``paths``."""
    words: Set[str] = set()
    for path in paths:
        for file in _yml(path) if path.is_dir() else [path]:
            words.add(file.name)
            words.add(str(file.resolve().relative_to(root)) if root in file.resolve().parents else file.name)
            words.update(read_domain_intents(file))
            words.update(e.intent for e in read_examples(file))
            words.update(r.name for r in read_responses(file))
    return {w for w in words if w}


def rasa_lines(output: str) -> List[str]:
    """The warnings and errors of ``rasa data validate``, one a line, without log noise."""
    keep = []
    for line in output.splitlines():
        if re.search(r"UserWarning|Warning:|WARNING|ERROR|Error|rror:", line):
            keep.append(re.sub(r"^\S+ \S+ +(WARNING|ERROR|INFO) +\S+ +- ", r"\1 ", line).strip())
    return keep


def run(root: Path, paths: Iterable[Path], min_examples: int, with_rasa: bool,
        out=sys.stdout, model: Optional[Path] = None) -> int:
    """The command: our findings first, then Rasa's (only those about ``paths`` when given);
    returns 1 on any error, 0 otherwise."""
    paths = list(paths)
    for path in paths:
        if not path.exists():
            print(f"tuibao data lint: {path} does not exist", file=out)
            return 2
    if model is not None:
        print(f"core guard: reading the insurers' examples with {model.name} (a minute)", file=out)
    findings = lint(root, paths, min_examples, model=model)
    for finding in findings:
        print(finding.render(root), file=out)
    errors = sum(f.severity == ERROR for f in findings)
    warnings = sum(f.severity == WARNING for f in findings)
    status = 1 if errors else 0
    if with_rasa:
        code, output = rasa_validate(root)
        if code != 0:
            lines = rasa_lines(output) or output.splitlines()[-20:]
            if paths:
                words = _concerns(root.resolve(), [p.resolve() for p in paths])
                about = [line for line in lines if any(w in line for w in words)]
                others = len(lines) - len(about)
            else:
                about, others = lines, 0
            if about:
                print(f"rasa data validate: {len(about)} finding(s) about this change:", file=out)
                for line in about:
                    print(f"  {line}", file=out)
                status = 1
            if others:
                print(f"rasa data validate: {others} other warning(s), not about "
                      f"{', '.join(str(p) for p in paths)} (the core's: `rasa data validate` "
                      "shows them)", file=out)
        else:
            print("rasa data validate: clean", file=out)
    print(f"{errors} errors, {warnings} warnings", file=out)
    return status
