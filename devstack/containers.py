"""Build and run the API image with a real container engine: docker when its engine answers,
podman otherwise (what the project's machines and CI have).

No container registry is reachable on the project's machines, so `python:3.11-slim` cannot be
pulled there. With podman, the build's base is a local stand-in instead: Debian bookworm's own
Python 3.11 in a venv at /opt/venv, made once with `debootstrap` (about 90 s) and kept both as a
podman image and as a rootfs tarball in the user's cache folder. The Dockerfile itself is built
unchanged; `podman build --from` only swaps its base. With docker, the real base is pulled.

    python -m devstack.containers build    # prints what each step took
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# podman settings these machines need: crun rejects the hybrid cgroup layout (runc), there is no
# systemd to manage cgroups or the journal, and default ulimits fail without CAP_SYS_RESOURCE.
CONTAINERS_CONF = Path(__file__).with_name("containers.conf")
STAND_IN_BASE = "localhost/pybase:3.11-bookworm"
IMAGE = "localhost/adtech-recs-api:dev"
_BOOTSTRAP_PACKAGES = "python3,python3-venv,ca-certificates"
_BASE_PATH = "/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class EngineMissing(RuntimeError):
    """Neither a docker engine nor podman is usable here."""


@dataclass(frozen=True)
class Engine:
    """A container CLI and the environment it runs with."""

    name: str  # "docker" or "podman"
    env: dict[str, str] = field(repr=False)

    def run(
        self, *args: str, check: bool = True, timeout: float = 600, **kwargs
    ) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [self.name, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            **kwargs,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{self.name} {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout[-2000:]}{result.stderr[-4000:]}"
            )
        return result


def find_engine() -> Engine:
    """docker if a docker engine answers (not just its client), else podman; EngineMissing else."""
    env = dict(os.environ)
    if shutil.which("docker"):
        with contextlib.suppress(subprocess.TimeoutExpired):
            info = subprocess.run(["docker", "info"], capture_output=True, timeout=20)
            if info.returncode == 0:
                return Engine("docker", env)
    if shutil.which("podman"):
        env.setdefault("CONTAINERS_CONF", str(CONTAINERS_CONF))
        return Engine("podman", env)
    raise EngineMissing(
        "no container engine: neither a running docker engine nor podman was found. "
        "Install podman with `sudo devstack/system-deps.sh` (`make test` runs it as root)."
    )


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = base / "adtech-recs" / "containers"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    """One process at a time makes the base image (two test runs may start together)."""
    with open(cache_dir() / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def base_image(engine: Engine) -> str | None:
    """The base to build from: None (the Dockerfile's own) for docker, the stand-in for podman."""
    if engine.name == "docker":
        return None
    with _locked("pybase"):
        if engine.run("image", "exists", STAND_IN_BASE, check=False).returncode == 0:
            return STAND_IN_BASE
        tarball = cache_dir() / "pybase-3.11-bookworm.tar"
        if not tarball.exists():
            _debootstrap(tarball)
        with tarball.open("rb") as rootfs:
            engine.run(
                "import",
                "--change",
                f"ENV PATH={_BASE_PATH}",
                "--change",
                "ENV LANG=C.UTF-8",
                "--change",
                'CMD ["python3"]',
                "-",
                STAND_IN_BASE,
                stdin=rootfs,
            )
    return STAND_IN_BASE


def _debootstrap(tarball: Path) -> None:
    """A minimal bookworm with Python 3.11 in /opt/venv, trusting the host's extra CAs (pip in
    the build may go through a TLS-intercepting proxy), packed as a rootfs tarball."""
    if os.geteuid() != 0 or not shutil.which("debootstrap"):
        raise EngineMissing(
            f"the stand-in base image {STAND_IN_BASE} is missing and making it needs root and "
            "debootstrap (`sudo devstack/system-deps.sh`, then run as root once)"
        )
    with tempfile.TemporaryDirectory(prefix="pybase-", dir=cache_dir()) as tmp:
        rootfs = Path(tmp) / "rootfs"
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={_BOOTSTRAP_PACKAGES}",
                *("bookworm", str(rootfs), "http://deb.debian.org/debian"),
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(["chroot", str(rootfs), "python3", "-m", "venv", "/opt/venv"], check=True)
        extra_cas = rootfs / "usr/local/share/ca-certificates"
        for crt in Path("/usr/local/share/ca-certificates").glob("*.crt"):
            shutil.copy(crt, extra_cas / crt.name)
        subprocess.run(
            ["chroot", str(rootfs), "update-ca-certificates"], check=True, capture_output=True
        )
        # Slimmer base: apt lists and caches are not needed by the image.
        for junk in ("var/lib/apt/lists", "var/cache/apt/archives"):
            for path in (rootfs / junk).glob("*"):
                if path.is_file():
                    path.unlink()
        partial = tarball.with_suffix(".partial")
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(partial), "."], check=True)
        partial.rename(tarball)


def build(engine: Engine, tag: str = IMAGE, context: Path = ROOT) -> str:
    """Build the project's Dockerfile, unchanged; returns the tag."""
    args = ["build", "--tag", tag]
    base = base_image(engine)
    if engine.name == "podman":
        args += ["--format", "docker"]  # the OCI format drops HEALTHCHECK
        args += ["--from", base] if base else []
    engine.run(*args, str(context), timeout=1200)
    return tag


def inspect(engine: Engine, what: str) -> dict:
    return json.loads(engine.run("inspect", what).stdout)[0]


def healthcheck_test(engine: Engine, image: str) -> list[str]:
    """The image's HEALTHCHECK test, e.g. ["CMD", "python", ...] (docker keeps it under Config,
    podman at the top level); [] when the image has none."""
    data = inspect(engine, image)
    check = data["Config"].get("Healthcheck") or data.get("Healthcheck") or {}
    return list(check.get("Test") or [])


@contextlib.contextmanager
def running(engine: Engine, image: str, name: str, env: dict[str, str]) -> Iterator[str]:
    """The image's own command in a container on the host's network; yields its name."""
    args = ["run", "--detach", "--name", name, "--network", "host"]
    for key, value in env.items():
        args += ["--env", f"{key}={value}"]
    engine.run(*args, image)
    try:
        yield name
    finally:
        engine.run("rm", "--force", name, check=False)


def main(argv: list[str]) -> int:
    """`build`: make the base (if needed) and the image, printing the time of each step."""
    if argv != ["build"]:
        print("usage: python -m devstack.containers build", file=sys.stderr)
        return 2
    engine = find_engine()
    started = time.monotonic()
    base = base_image(engine)
    based = time.monotonic()
    tag = build(engine)
    built = time.monotonic()
    size = inspect(engine, tag).get("Size", 0)
    print(
        f"engine {engine.name}; base {base or 'from the Dockerfile'} {based - started:.1f} s; "
        f"build {built - based:.1f} s; image {tag} {size / 1e6:.0f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
