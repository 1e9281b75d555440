"""docker-compose.yml has the structure production relies on (no Docker engine runs here)."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import REPO_ROOT

APP_SERVICES = ("migrate", "web", "worker", "worker-train", "beat")


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]


def _command(service: dict) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else command


def test_every_service_of_the_stack_is_defined(services):
    expected = {"db", "redis", *APP_SERVICES}

    missing = expected - set(services)

    assert missing == set()


def test_exactly_one_beat_runs_with_the_database_scheduler(services):
    beats = [name for name, s in services.items() if " beat" in _command(s)]

    assert beats == ["beat"]
    assert "django_celery_beat.schedulers:DatabaseScheduler" in _command(services["beat"])
    assert "replicas" not in services["beat"].get("deploy", {})


def test_database_redis_and_web_have_healthchecks(services):
    with_checks = {name for name, s in services.items() if s.get("healthcheck", {}).get("test")}

    assert {"db", "redis", "web"} <= with_checks
    assert "pg_isready" in str(services["db"]["healthcheck"]["test"])
    assert "redis-cli" in str(services["redis"]["healthcheck"]["test"])


@pytest.mark.parametrize(("name", "queue"), [("worker", "default"), ("worker-train", "train")])
def test_each_worker_is_healthy_only_while_it_answers_a_ping_by_its_own_name(services, name, queue):
    check = services[name]["healthcheck"]
    test = " ".join(check["test"])

    assert f"--hostname={queue}@%h" in _command(services[name])
    assert "inspect ping" in test and f"-d {queue}@$$HOSTNAME" in test
    assert check["retries"] >= 1 and check["timeout"]


def test_beat_is_healthy_only_while_it_sends_periodic_tasks(services):
    check = services["beat"]["healthcheck"]

    assert check["test"] == ["CMD", "python", "manage.py", "check_beat"]
    assert check["start_period"] == "10m"  # one reconciler cycle plus the scheduler's save


def test_web_is_healthy_through_the_health_endpoint(services):
    assert "/health/" in " ".join(services["web"]["healthcheck"]["test"])


@pytest.mark.parametrize("name", ["web", "worker", "worker-train", "beat"])
def test_app_services_wait_for_healthy_services_and_a_finished_migration(services, name):
    depends = services[name]["depends_on"]

    assert depends["db"]["condition"] == "service_healthy"
    assert depends["redis"]["condition"] == "service_healthy"
    assert depends["migrate"]["condition"] == "service_completed_successfully"


def test_migrate_runs_once_after_the_database_is_healthy(services):
    migrate = services["migrate"]

    assert "manage.py migrate" in _command(migrate)
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert migrate["restart"] == "no"


def test_web_workers_and_beat_run_the_same_image(services):
    images = {services[name]["image"] for name in APP_SERVICES}

    assert len(images) == 1


def test_the_default_and_train_queues_are_both_consumed(services):
    queues = {
        q
        for s in services.values()
        if " worker" in _command(s)
        for q in _command(s).split("-Q ", 1)[1].split()[0].split(",")
    }

    assert {"default", "train"} <= queues


def test_the_training_worker_runs_one_task_at_a_time(services):
    command = _command(services["worker-train"])

    assert "-Q train" in command
    assert "--concurrency=1" in command


def test_app_services_share_the_environment_and_the_artifact_volume(services):
    for name in APP_SERVICES:
        env = services[name]["environment"]

        for variable in ("DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS"):
            assert env[variable], (name, variable)
        assert env["DJANGO_DEBUG"] == "false"
        assert env["SHELFWISE_MEDIA_ROOT"] == "/data/media"
        assert "artifacts:/data/media" in services[name]["volumes"]


def test_light_workers_cap_blas_threads_at_one(services):
    env = services["worker"]["environment"]

    assert env["OPENBLAS_NUM_THREADS"] == env["OMP_NUM_THREADS"] == "1"


def test_long_running_services_restart_on_failure(services):
    long_running = [n for n in services if n != "migrate"]

    policies = {n: services[n].get("restart") for n in long_running}

    assert set(policies.values()) <= {"unless-stopped", "always", "on-failure"}


def test_the_image_is_python_311_slim_running_as_a_non_root_user():
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()

    assert dockerfile.startswith("#") and "FROM python:3.11-slim" in dockerfile
    assert "collectstatic" in dockerfile
    user_lines = [line for line in dockerfile.splitlines() if line.startswith("USER ")]
    assert user_lines and user_lines[-1] != "USER root"


def test_the_stack_declares_it_runs_behind_a_proxy(services):
    env = services["web"]["environment"]

    # The healthcheck and the proxy send X-Forwarded-Proto; without this it would be ignored.
    assert env["DJANGO_BEHIND_PROXY"] == "true"
    assert env["API_NUM_PROXIES"] == "${API_NUM_PROXIES:-1}"  # the proxy is one hop


SPARK_SERVICES = ("spark-master", "spark-worker")


def test_the_spark_cluster_starts_only_with_the_spark_profile(services):
    profiled = {name for name, s in services.items() if "spark" in s.get("profiles", [])}

    assert profiled == set(SPARK_SERVICES)
    assert all("profiles" not in services[name] for name in (*APP_SERVICES, "db", "redis"))


def test_the_spark_worker_joins_the_master_and_the_cluster_runs_pysparks_version(services):
    master, worker = services["spark-master"], services["spark-worker"]
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()

    assert "deploy.master.Master" in _command(master) and "7077" in _command(master)
    assert "deploy.worker.Worker spark://spark-master:7077" in _command(worker)
    assert worker["depends_on"]["spark-master"]["condition"] == "service_healthy"
    tag = master["image"].split(":")[1]
    assert worker["image"] == master["image"] == f"apache/spark:{tag}"
    assert f'"pyspark=={tag}"' in pyproject


def test_app_services_point_at_the_cluster_and_share_the_snapshots_with_its_worker(services):
    snapshots = services["web"]["environment"]["SHELFWISE_SPARK_SNAPSHOT_DIR"]

    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert env["SHELFWISE_TRAINER"] == "${SHELFWISE_TRAINER:-numpy}"
        assert "spark://spark-master:7077" in env["SHELFWISE_SPARK_MASTER"]
        assert env["SHELFWISE_SPARK_SNAPSHOT_DIR"] == snapshots
    # Executors read the snapshot at the path the training worker wrote it, and reach its driver.
    assert snapshots.startswith("/data/media/")
    assert "artifacts:/data/media" in services["spark-worker"]["volumes"]
    assert services["worker-train"]["environment"]["SHELFWISE_SPARK_DRIVER_HOST"] == "worker-train"


def test_the_image_installs_the_spark_extra_and_java_only_when_asked(services):
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()

    assert services["web"]["build"]["args"]["SHELFWISE_EXTRAS"] == "${SHELFWISE_EXTRAS:-}"
    assert 'ARG SHELFWISE_EXTRAS=""' in dockerfile
    assert "jre-headless" in dockerfile and '"$SHELFWISE_EXTRAS" = "spark"' in dockerfile
