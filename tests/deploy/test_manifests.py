"""The deployment files, checked offline: deploy/kubernetes/ against the Kubernetes OpenAPI
schemas (kubernetes-validate ships them; strict, so an unknown or misspelt field fails), and
against what the service needs; compose.yaml and its nginx.conf structurally (no Docker here)."""

from __future__ import annotations

import json
import re
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_validate import utils as k8s

from tests.common.paths import ROOT

K8S_DIR = ROOT / "deploy" / "kubernetes"
KUSTOMIZATION = K8S_DIR / "kustomization.yaml"
COMPOSE = ROOT / "compose.yaml"
KUBERNETES_VERSION = "1.31"
MANIFESTS = sorted(p for p in K8S_DIR.glob("*.yaml") if p != KUSTOMIZATION)
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
SECRET_ONLY_FOR_REDIS = "REDIS_PASSWORD"


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def all_objects() -> list[dict[str, Any]]:
    return [doc for path in MANIFESTS for doc in documents(path)]


def the(kind: str, name: str) -> dict[str, Any]:
    found = [o for o in all_objects() if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected exactly one {kind} {name!r} in {K8S_DIR}, found {len(found)}"
    return found[0]


def workloads() -> list[dict[str, Any]]:
    return [o for o in all_objects() if o["kind"] in WORKLOAD_KINDS]


def container(workload: dict[str, Any], name: str) -> dict[str, Any]:
    found = [c for c in workload["spec"]["template"]["spec"]["containers"] if c["name"] == name]
    assert len(found) == 1, f"{workload['metadata']['name']}: expected one container {name!r}"
    return found[0]


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return dict(workload["spec"]["template"]["metadata"]["labels"])


def redis_workload() -> dict[str, Any]:
    found = [w for w in workloads() if any(c["name"] == "redis" for c in w["spec"]["template"]["spec"]["containers"])]
    assert len(found) == 1, "expected exactly one workload with a redis container"
    return found[0]


def env_of(source: dict[str, Any]) -> dict[str, str]:
    return dict(source.get("data") or {}) | dict(source.get("stringData") or {})


# --- Kubernetes: schema -------------------------------------------------------------------


def test_there_are_manifests() -> None:
    kinds = {o["kind"] for o in all_objects()}
    assert {"ConfigMap", "Secret", "Deployment", "Service", "HorizontalPodAutoscaler"} <= kinds
    assert {"PodDisruptionBudget", "NetworkPolicy"} <= kinds


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_is_valid_kubernetes(path: Path) -> None:
    docs = documents(path)
    assert docs, f"{path.name} holds no object"
    for doc in docs:
        where = f"{path.name}: {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        assert "namespace" not in doc.get("metadata", {}), f"{where}: the manifests are namespace-agnostic"
        try:
            k8s.validate(doc, KUBERNETES_VERSION, strict=True)
        except k8s.ValidationError as err:
            location = ".".join(str(part) for part in err.path)
            pytest.fail(f"{where}: {location}: {err.message}")
        except (k8s.SchemaNotFoundError, k8s.InvalidSchemaError) as err:
            pytest.fail(f"{where}: {err.message}")


def test_kustomization_lists_exactly_the_manifests() -> None:
    kustomization = yaml.safe_load(KUSTOMIZATION.read_text(encoding="utf-8"))
    assert kustomization["kind"] == "Kustomization"
    assert "namespace" not in kustomization
    resources = kustomization["resources"]
    assert len(resources) == len(set(resources)), "a resource is listed twice"
    missing = [r for r in resources if not (K8S_DIR / r).is_file()]
    assert not missing, f"kustomization.yaml lists files that do not exist: {missing}"
    unlisted = sorted({p.name for p in MANIFESTS} - set(resources))
    assert not unlisted, f"manifests not listed in kustomization.yaml: {unlisted}"


# --- Kubernetes: the cds Deployment -------------------------------------------------------


def test_probes_hit_health_endpoints_on_the_named_port() -> None:
    cds = container(the("Deployment", "cds"), "cds")
    ports = {p["name"]: p["containerPort"] for p in cds["ports"]}
    assert ports.get("http") == 8000
    expected = {"readinessProbe": "/readyz", "livenessProbe": "/healthz", "startupProbe": "/healthz"}
    for probe, path in expected.items():
        http_get = cds[probe]["httpGet"]
        assert (http_get["path"], http_get["port"]) == (path, "http"), probe
    startup = cds["startupProbe"]
    budget = startup.get("initialDelaySeconds", 0) + startup["periodSeconds"] * startup["failureThreshold"]
    assert budget >= 60, "start-up compiles the rule base: allow it about a minute"


def test_every_container_requests_resources() -> None:
    assert workloads()
    for workload in workloads():
        for c in workload["spec"]["template"]["spec"]["containers"]:
            requests = c.get("resources", {}).get("requests", {})
            where = f"{workload['metadata']['name']}/{c['name']}"
            assert {"cpu", "memory"} <= set(requests), f"{where}: set resources.requests cpu and memory"
            assert "memory" in c["resources"].get("limits", {}), f"{where}: set a memory limit"


def test_every_pod_is_locked_down() -> None:
    users = {"cds": 10001, "redis": 999}
    for workload in workloads():
        pod = workload["spec"]["template"]["spec"]
        name = workload["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        for c in pod["containers"]:
            ctx = c["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False, c["name"]
            assert ctx["readOnlyRootFilesystem"] is True, c["name"]
            assert ctx["capabilities"]["drop"] == ["ALL"], c["name"]
            uid = ctx.get("runAsUser", pod["securityContext"].get("runAsUser"))
            assert uid == users[c["name"]], f"{c['name']} must run as uid {users[c['name']]}"


def test_cds_has_a_memory_backed_tmp() -> None:
    deployment = the("Deployment", "cds")
    mounts = {m["mountPath"]: m["name"] for m in container(deployment, "cds")["volumeMounts"]}
    assert "/tmp" in mounts, "gunicorn writes heartbeat files and metrics under /tmp"
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes[mounts["/tmp"]]["emptyDir"]["medium"] == "Memory"


def test_a_pod_stops_gracefully_before_it_is_killed() -> None:
    from cds.settings import ServerSettings

    spec = the("Deployment", "cds")["spec"]
    assert "replicas" not in spec, "the HPA owns the replica count"
    pod = spec["template"]["spec"]
    pause = container(the("Deployment", "cds"), "cds")["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pause > 0
    assert pod["terminationGracePeriodSeconds"] > pause + ServerSettings().graceful_timeout


def test_cds_gets_its_settings_from_the_configmap_and_secret() -> None:
    refs = container(the("Deployment", "cds"), "cds")["envFrom"]
    assert [r["configMapRef"]["name"] for r in refs if "configMapRef" in r] == ["cds-settings"]
    assert [r["secretRef"]["name"] for r in refs if "secretRef" in r] == ["cds-secrets"]
    the("ConfigMap", "cds-settings")
    the("Secret", "cds-secrets")


def test_selectors_find_their_pods() -> None:
    cds_pods = pod_labels(the("Deployment", "cds"))
    redis = redis_workload()
    redis_pods = pod_labels(redis)
    assert matches(the("Deployment", "cds")["spec"]["selector"]["matchLabels"], cds_pods)
    assert matches(the("Service", "cds")["spec"]["selector"], cds_pods)
    assert not matches(the("Service", "cds")["spec"]["selector"], redis_pods)
    assert the("Service", "cds")["spec"]["ports"][0]["targetPort"] == "http"
    assert matches(the("PodDisruptionBudget", "cds")["spec"]["selector"]["matchLabels"], cds_pods)
    target = the("HorizontalPodAutoscaler", "cds")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "cds")
    assert matches(redis["spec"]["selector"]["matchLabels"], redis_pods)
    assert matches(the("Service", "cds-redis")["spec"]["selector"], redis_pods)
    assert not matches(the("Service", "cds-redis")["spec"]["selector"], cds_pods)


# --- Kubernetes: Redis --------------------------------------------------------------------


def test_redis_never_evicts_and_requires_the_password() -> None:
    redis = container(redis_workload(), "redis")
    args = [*redis.get("command", []), *redis.get("args", [])]
    pairs = dict(zip(args, [*args[1:], None], strict=True))
    assert pairs.get("--maxmemory-policy") == "noeviction", "an evicted replay entry lets a replayed token through"
    assert pairs.get("--maxmemory"), "without maxmemory, Redis grows until the pod is OOM-killed"
    assert pairs.get("--requirepass") == f"$({SECRET_ONLY_FOR_REDIS})"
    env = {e["name"]: e for e in redis["env"]}
    key = env[SECRET_ONLY_FOR_REDIS]["valueFrom"]["secretKeyRef"]
    assert key == {"name": "cds-secrets", "key": SECRET_ONLY_FOR_REDIS}
    assert SECRET_ONLY_FOR_REDIS in the("Secret", "cds-secrets")["stringData"]
    assert pairs.get("--save") == "" and pairs.get("--appendonly") == "no"


def test_only_cds_reaches_redis() -> None:
    policy = the("NetworkPolicy", "cds-redis")["spec"]
    assert matches(policy["podSelector"]["matchLabels"], pod_labels(redis_workload()))
    assert policy["policyTypes"] == ["Ingress"]
    [rule] = policy["ingress"]
    [peer] = rule["from"]
    assert set(peer) == {"podSelector"}, "pods only: no namespaceSelector or ipBlock"
    assert peer["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "cds"}
    assert matches(peer["podSelector"]["matchLabels"], pod_labels(the("Deployment", "cds")))
    assert not matches(peer["podSelector"]["matchLabels"], pod_labels(redis_workload()))
    assert rule["ports"] == [{"protocol": "TCP", "port": 6379}]


# --- Kubernetes: settings -----------------------------------------------------------------


def test_every_setting_is_one_the_service_reads() -> None:
    from cds.settings import VARIABLES

    names = set(env_of(the("ConfigMap", "cds-settings"))) | set(env_of(the("Secret", "cds-secrets")))
    unknown = sorted(names - {SECRET_ONLY_FOR_REDIS} - VARIABLES)
    assert not unknown, f"cds reads no such variable (cds.settings.VARIABLES): {unknown}"


def test_secret_holds_the_secrets_as_placeholders_only() -> None:
    secret = the("Secret", "cds-secrets")
    assert secret["type"] == "Opaque"
    values = secret["stringData"]
    assert {"CDS_API_KEYS", "CDS_METRICS_TOKEN", "CDS_REDIS_URL", SECRET_ONLY_FOR_REDIS} <= set(values)
    assert all("REPLACE-ME" in v for v in values.values()), "secret.yaml holds placeholders, never real values"
    assert not set(values) & set(env_of(the("ConfigMap", "cds-settings"))), "a setting is in both"
    url = urllib.parse.urlsplit(values["CDS_REDIS_URL"])
    assert (url.scheme, url.hostname, url.port) == ("redis", "cds-redis", 6379)
    assert url.password == values[SECRET_ONLY_FOR_REDIS]
    assert the("Service", "cds-redis")["spec"]["ports"][0]["port"] == url.port


def test_configmap_values_are_accepted_by_the_service() -> None:
    from cds.settings import ServerSettings, Settings

    env = env_of(the("ConfigMap", "cds-settings"))
    json.loads(env["CDS_TRUSTED_ISSUERS"])
    server = ServerSettings.from_env(env)
    assert (server.bind, server.workers) == ("0.0.0.0:8000", 3)
    settings = Settings.from_env(env)
    assert settings.public_base_url == "https://cds.example.org"
    assert list(settings.trusted_issuers) == ["https://ehr.example.org"]


def test_an_unedited_secret_stops_the_service() -> None:
    """The placeholder key is too short to be accepted: a copy of secret.yaml applied as it is
    fails at start-up instead of serving with a key anyone can read here."""
    from cds.settings import Settings, SettingsError

    values = the("Secret", "cds-secrets")["stringData"]
    for name in ("CDS_API_KEYS", "CDS_METRICS_TOKEN"):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({name: values[name]})


# --- compose.yaml and nginx ---------------------------------------------------------------


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def compose_environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def with_defaults(value: str) -> str:
    """A compose value as `docker compose` would interpolate it with none of its variables set."""
    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}", r"\1", value)


def nginx_config() -> tuple[dict[str, Any], Path]:
    nginx = compose()["services"]["nginx"]
    assert str(nginx["image"]).startswith("nginx:")
    mounts = [v for v in nginx["volumes"] if v.split(":")[1] == "/etc/nginx/nginx.conf"]
    assert len(mounts) == 1, "nginx.conf must be mounted at /etc/nginx/nginx.conf"
    source, _, mode = mounts[0].split(":")
    assert mode == "ro"
    return nginx, (ROOT / source).resolve()


def test_compose_has_redis_two_cds_replicas_and_nginx() -> None:
    services = compose()["services"]
    assert {"redis", "cds", "nginx"} <= set(services)
    cds = services["cds"]
    assert cds["deploy"]["replicas"] == 2
    assert cds["build"] in (".", {"context": "."})
    assert "ports" not in cds, "only nginx is published"
    assert cds["depends_on"]["redis"]["condition"] == "service_healthy"
    for name in ("redis", "cds", "nginx"):
        assert services[name]["healthcheck"]["test"], f"{name} has no healthcheck"
    assert services["nginx"]["ports"] == ["127.0.0.1:8080:8080"]


def test_compose_cds_uses_the_redis_service() -> None:
    services = compose()["services"]
    env = compose_environment(services["cds"])
    url = urllib.parse.urlsplit(env["CDS_REDIS_URL"])
    assert url.scheme == "redis"
    assert url.hostname in services, f"CDS_REDIS_URL names {url.hostname!r}, which is no compose service"
    assert services[url.hostname]["image"].startswith("redis:")
    assert env["CDS_BIND"] == "0.0.0.0:8000"
    args = services["redis"]["command"]
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    password = args[args.index("--requirepass") + 1]
    assert url.password == password, "cds must use the password Redis requires"


def test_compose_defaults_are_accepted_by_the_service() -> None:
    from cds.settings import Settings

    env = compose_environment(compose()["services"]["cds"])
    defaults = {k: with_defaults(v) for k, v in env.items()}
    assert "$" not in "".join(defaults.values()), "every variable in cds's environment needs a local default"
    for name in ("CDS_API_KEYS", "CDS_METRICS_TOKEN"):
        assert len(defaults[name]) >= 16, f"{name}'s local default is shorter than the 16 characters cds requires"
    settings = Settings.from_env(defaults)
    assert settings.api_keys_required


def test_nginx_buffers_requests_and_passes_the_request_id() -> None:
    _, path = nginx_config()
    assert path.is_file(), f"{path} does not exist"
    lines = [line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines()]
    directives = {line.rstrip(";") for line in lines if line}
    for directive in (
        "proxy_request_buffering on",
        "client_body_timeout 10s",
        "client_header_timeout 10s",
        "client_max_body_size 2m",
        "server cds:8000",
        "listen 8080",
    ):
        assert directive in directives, f"nginx.conf lacks `{directive};`"
    assert any(d.startswith("proxy_set_header X-Request-ID ") for d in directives)
    assert "proxy_pass http://cds" in directives
