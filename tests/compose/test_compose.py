"""docker-compose.yml without Docker: valid, complete, secret-free, agreeing with provisioning."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kilowatch.dashboards.build import DEFAULT_OUT_DIR
from tests.support.services import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
COMPOSE = yaml.safe_load(COMPOSE_FILE.read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
ENV_EXAMPLE = REPO_ROOT / ".env.example"
GRAFANA_PROVISIONING = REPO_ROOT / "provisioning" / "grafana"
DOCKERFILE = REPO_ROOT / "docker" / "Dockerfile"
REQUIRED_SERVICES = {"mosquitto", "influxdb", "grafana", "bridge", "simulator-history", "simulator"}
# ${NAME}, ${NAME:-default}, ${NAME:?message}; $$ escapes a dollar for the container's shell.
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")
SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET", re.IGNORECASE)


def env_example() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value.strip()
    return pairs


def bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host path, container path) of the service's bind mounts (short syntax)."""
    mounts = []
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            mounts.append((source, target))
    return mounts


def check_jsonschema() -> str:
    found = shutil.which("check-jsonschema") or str(
        Path(sys.executable).with_name("check-jsonschema")
    )
    if not os.access(found, os.X_OK):
        pytest.fail("check-jsonschema is not installed: pip install -e '.[test]'")
    return found


def test_valid_against_the_compose_specification() -> None:
    result = subprocess.run(
        [check_jsonschema(), "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_catches_an_invalid_file(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  x:\n    image: 3\n    restart: sometimes\n")
    result = subprocess.run(
        [check_jsonschema(), "--builtin-schema", "vendor.compose-spec", str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1


def test_the_whole_product_is_there() -> None:
    assert set(SERVICES) >= REQUIRED_SERVICES


ONE_SHOT = {"simulator-history"}  # publishes the month of history, then exits


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_service_has_healthcheck_and_restart_policy(name: str) -> None:
    service = SERVICES[name]
    assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    allowed = ("no",) if name in ONE_SHOT else ("unless-stopped", "always", "on-failure")
    assert service.get("restart") in allowed


def test_dependencies_exist_and_wait_for_health() -> None:
    for name, service in SERVICES.items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in SERVICES, f"{name} depends on unknown service {dependency}"
            wanted = (
                "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            )
            assert condition == {"condition": wanted}, f"{name} -> {dependency}"
    assert set(SERVICES["bridge"]["depends_on"]) == {"mosquitto", "influxdb"}
    assert set(SERVICES["simulator-history"]["depends_on"]) == {"bridge"}
    assert set(SERVICES["simulator"]["depends_on"]) == {"simulator-history"}
    assert set(SERVICES["grafana"]["depends_on"]) == {"influxdb"}


def test_named_volumes_are_declared_and_bind_mounts_exist() -> None:
    declared = set(COMPOSE.get("volumes") or {})
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name} uses undeclared volume {source}"
        for source, _ in bind_mounts(service):
            assert (REPO_ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
    assert declared, "state (broker sessions, InfluxDB, Grafana) must live in named volumes"


def test_files_the_services_read_inside_their_mounts_exist() -> None:
    """Paths given in commands and environment resolve to files in the mounted folders."""
    mounted = {
        target: REPO_ROOT / source
        for service in SERVICES.values()
        for source, target in bind_mounts(service)
    }
    text = json.dumps(
        [[s.get("entrypoint"), s.get("command"), s.get("environment")] for s in SERVICES.values()]
    )
    for target, host in mounted.items():
        for path in re.findall(re.escape(target) + r"/[\w./-]+", text):
            relative = path[len(target) + 1 :]
            assert (host / relative).exists(), f"{path} is not in {host.relative_to(REPO_ROOT)}"
    example = REPO_ROOT / "config" / env_example()["KILOWATCH_PLANT_FILE"]
    assert example.is_file()


def test_build_uses_the_repository_dockerfile() -> None:
    for name in ("bridge", "simulator"):
        build = SERVICES[name]["build"]
        assert (REPO_ROOT / build["context"] / build["dockerfile"]).is_file()


def test_no_secret_is_written_in_the_file() -> None:
    for name, service in SERVICES.items():
        for key, value in (service.get("environment") or {}).items():
            value = str(value)
            if SECRET_NAME.search(key) or ("://" in value and "@" in value):
                assert "${" in value, f"{name}: {key} must come from .env, not the file"


def test_every_variable_is_in_env_example_and_no_real_secret_is_there() -> None:
    used = set(VARIABLE.findall(COMPOSE_FILE.read_text()))
    documented = env_example()
    assert used <= set(documented), f"missing from .env.example: {sorted(used - set(documented))}"
    for name, value in documented.items():
        if SECRET_NAME.search(name):
            assert value in ("", "change-me"), f"{name} in .env.example must be a placeholder"


def test_the_dot_env_file_is_ignored_by_git() -> None:
    assert ".env" in (REPO_ROOT / ".gitignore").read_text().split()


def test_the_plant_file_and_services_share_the_bucket() -> None:
    bridge_env = SERVICES["bridge"]["environment"]
    grafana_env = SERVICES["grafana"]["environment"]
    assert bridge_env["KILOWATCH_INFLUX_BUCKET"] == grafana_env["KILOWATCH_INFLUX_BUCKET"]
    influx_env = SERVICES["influxdb"]["environment"]
    assert influx_env["DOCKER_INFLUXDB_INIT_BUCKET"] == bridge_env["KILOWATCH_INFLUX_BUCKET"]


def test_provisioned_datasource_is_the_one_the_dashboards_use() -> None:
    provisioned = yaml.safe_load(
        (GRAFANA_PROVISIONING / "datasources" / "kilowatch.yaml").read_text()
    )
    (datasource,) = provisioned["datasources"]
    assert datasource["type"] == "influxdb"
    assert datasource["jsonData"]["httpHeaderName1"] == "Authorization"
    assert datasource["secureJsonData"]["httpHeaderValue1"].startswith("Token ${")
    used = set()
    for path in (REPO_ROOT / DEFAULT_OUT_DIR).glob("*.json"):
        used |= set(re.findall(r'"type": "influxdb",\s*"uid": "([^"]+)"', path.read_text()))
    assert used == {datasource["uid"]}
    # Every variable the datasource file reads is given to the grafana container.
    wanted = set(re.findall(r"\$\{(\w+)\}", json.dumps(provisioned)))
    assert wanted <= set(SERVICES["grafana"]["environment"])


def test_dashboard_provider_reads_the_generated_folder_and_home_exists() -> None:
    provider = yaml.safe_load((GRAFANA_PROVISIONING / "dashboards" / "kilowatch.yaml").read_text())
    (entry,) = provider["providers"]
    mount = dict((t, s) for s, t in bind_mounts(SERVICES["grafana"]))["/etc/grafana/provisioning"]
    path_in_repo = (
        REPO_ROOT / mount / entry["options"]["path"].removeprefix("/etc/grafana/provisioning/")
    )
    assert path_in_repo == REPO_ROOT / DEFAULT_OUT_DIR
    assert entry["folder"]
    home = SERVICES["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (REPO_ROOT / mount / home.removeprefix("/etc/grafana/provisioning/")).is_file()


def test_influxdb_setup_script_is_executable() -> None:
    scripts = list((REPO_ROOT / "provisioning" / "influxdb").glob("*.sh"))
    assert scripts, "the DBRP mapping is created by provisioning/influxdb/*.sh"
    for script in scripts:
        assert os.access(script, os.X_OK), f"{script} must be executable (the image skips it)"
        assert "dbrp create" in script.read_text()
    result = subprocess.run(
        ["bash", "-n", *map(str, scripts)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_python_image_is_small_pinned_and_not_root() -> None:
    text = DOCKERFILE.read_text()
    bases = re.findall(r"^ARG PYTHON_IMAGE=(\S+)", text, re.MULTILINE)
    assert bases and re.fullmatch(
        r"python:\d+\.\d+\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", bases[0]
    )
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert "AS build" in text  # the build stage's tools stay out of the final image
    assert re.search(r'^ENTRYPOINT \["kilowatch"\]', text, re.MULTILINE)


def test_third_party_images_are_pinned() -> None:
    for name, service in SERVICES.items():
        image = service.get("image", "")
        if "build" in service:
            continue
        assert re.search(r":\d+\.\d+(\.\d+)?$", image), f"{name}: pin {image} to a release"


def test_what_the_image_copies_exists_and_passes_the_dockerignore() -> None:
    """The build context is an allow-list (docker/Dockerfile.dockerignore): COPY sources in it."""
    allowed = [
        line[1:].strip()
        for line in (DOCKERFILE.parent / "Dockerfile.dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    copies = re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE.read_text(), re.MULTILINE)
    sources = [source for line in copies for source in line.split()]
    assert sources
    for source in sources:
        assert (REPO_ROOT / source).exists(), f"the Dockerfile copies {source}, which is missing"
        assert source.rstrip("/") in allowed, f"{source} is excluded from the build context"
