"""The Ray driver: ``blender-coco render ... --ray auto|local|ADDRESS``.

:func:`render_on_ray` ``(config, options)`` renders ``config`` (a whole run) on a Ray
cluster and exports it once, exactly as a one-process run would:

1. connect: ``local`` starts a private Ray on this machine (loopback only, its own auth
   token, no dashboard) and stops it at the end; ``auto`` joins ``$RAY_ADDRESS`` or this
   machine's head; ``HOST:PORT`` is probed with a short TCP connect first, so a wrong
   address fails in seconds with one line and nothing written;
2. check that some node can run a task (``--threads-per-task`` CPUs, ``--gpus-per-task`` GPUs);
3. prepare: one Blender process here checks the scene and the output folder with the
   user's ``--resume`` / ``--overwrite`` (same rules and messages as a one-process run;
   with ``local`` while Ray starts);
4. submit one Ray task per chunk of frames not yet complete (:mod:`.plan`); each runs
   ``blender-coco render ... --frame-range A:B --resume --no-export --threads T`` in a
   Blender process of its own (:mod:`.task`); a task whose Blender dies is retried by Ray
   (``max_retries``) and resumes, keeping its complete frames;
5. one progress line for the run (frames done from the sidecars in ``DS/records``,
   frames/min, time left, tasks running and retried);
6. Ctrl-C or SIGTERM of the driver (:mod:`blender_coco.stop`) cancels the tasks (their frames in
   flight are lost, complete ones kept) and ends with the ``--resume`` command, no export;
7. check every frame; if some never rendered, one line naming them and the command that
   resumes them; else, once Ray is stopped or left, the export of a one-process run into
   ``DS/annotations`` (same bytes; in several processes for long runs, :func:`export_jobs`).

:class:`RayOptions` holds the ``--ray`` options; :func:`options_from_args` builds it.
A small actor (:class:`Tracker`) records each task attempt: node, start, first frame, end.
Ray is imported only here, only when ``--ray`` is used.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import importlib
import logging
import os
import secrets
import shlex
import socket
import statistics
import sys
import time
from dataclasses import dataclass

from blender_coco import stop
from blender_coco.coco.export_result import ExportResult
from blender_coco.config import RenderConfig
from blender_coco.distribute import plan, task
from blender_coco.errors import UserError, check
from blender_coco.progress import Progress, duration

log = logging.getLogger(__name__)

MODES = ("auto", "local")
DEFAULT_PORT = 6379
CLIENT_PORT = 10001  # ray:// (Ray Client)
PROBE_TIMEOUT = 3.0
INSTALL_HINT = "pip install 'blender-coco[ray]'"


@dataclass(frozen=True)
class RayOptions:
    """address: ``auto``, ``local`` or ``HOST:PORT`` (``ray://HOST:PORT`` for Ray Client);
    workers: at most this many tasks at once (None: what the cluster runs);
    chunk: frames per task (None: :func:`plan.default_chunk`);
    threads_per_task: Cycles threads of a task and the CPUs Ray reserves for it;
    gpus_per_task: Ray ``num_gpus`` of a task; retries: Ray ``max_retries`` of a task;
    blender: a Blender binary to run tasks in (None: the bpy module)."""

    address: str
    workers: int | None = None
    chunk: int | None = None
    threads_per_task: int = 1
    gpus_per_task: float = 0
    retries: int = 3
    blender: str | None = None

    def __post_init__(self) -> None:
        check(isinstance(self.address, str) and self.address.strip() != "",
              f"--ray must be auto, local or HOST:PORT, got {self.address!r}")
        check(self.workers is None or self.workers >= 1, f"--workers must be >= 1, got {self.workers}")
        check(self.chunk is None or self.chunk >= 1, f"--chunk must be >= 1 (frames per task), got {self.chunk}")
        check(self.threads_per_task >= 1, f"--threads-per-task must be >= 1, got {self.threads_per_task}")
        check(self.gpus_per_task >= 0, f"--gpus-per-task must be >= 0, got {self.gpus_per_task:g}")
        check(self.retries >= 0, f"--retries must be >= 0, got {self.retries}")


def options_from_args(args: argparse.Namespace) -> RayOptions:
    return RayOptions(address=args.ray, workers=args.workers, chunk=args.chunk,
                      threads_per_task=args.threads_per_task, gpus_per_task=args.gpus_per_task,
                      retries=args.retries, blender=args.blender)


# -- connecting ------------------------------------------------------------------

def parse_address(address: str) -> tuple[str, int]:
    """``'HOST:PORT'`` / ``'ray://HOST:PORT'`` / ``'HOST'`` -> (host, port)."""
    text = address.strip()
    client = text.startswith("ray://")
    text = text[len("ray://"):] if client else text
    host, sep, port = text.rpartition(":") if text.count(":") == 1 or text.startswith("[") else ("", "", "")
    if not sep:
        host, port = text, ""
    host = host.strip("[]")
    if not host or (port and not port.isdigit()):
        raise UserError(f"--ray must be auto, local or HOST:PORT (e.g. 10.0.0.1:6379), got {address!r}")
    return host, int(port) if port else (CLIENT_PORT if client else DEFAULT_PORT)


def probe(address: str, timeout: float = PROBE_TIMEOUT) -> None:
    """A TCP connect to the cluster's address, so that a wrong one fails in seconds, not minutes."""
    host, port = parse_address(address)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        why = "timed out" if isinstance(exc, socket.timeout) else (exc.strerror or str(exc)).lower()
        raise UserError(f"cannot reach the Ray cluster at {host}:{port} ({why}); start it there with "
                        f"'ray start --head --port {port}', or pass the address 'ray start --head' printed "
                        "(or --ray local)") from None


def _hide_broken_pyarrow() -> bool:
    """Ray imports pyarrow when it is installed; a pyarrow built for numpy 2 fails to import next
    to the numpy<2 that bpy needs, and would break every task. Make Ray see it as absent; True
    when it had to."""
    if "pyarrow" in sys.modules:
        return sys.modules["pyarrow"] is None
    try:
        importlib.import_module("pyarrow")
    except ModuleNotFoundError:
        pass
    except Exception:
        sys.modules["pyarrow"] = None  # type: ignore[assignment]
        return True
    return False


def prepare_worker() -> None:
    """Ray's ``worker_process_setup_hook`` for this run's workers."""
    _hide_broken_pyarrow()


def import_ray(local: bool):
    """``ray``, with a one-line error when the extra is missing. A private (``local``) Ray
    listens on loopback only and gets a random auth token of its own (nothing under ~/.ray)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if local and "ray" not in sys.modules:  # Ray reads these when it is imported
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # Ray's switch for "loopback only"
        if "RAY_AUTH_MODE" not in os.environ and "RAY_AUTH_TOKEN" not in os.environ:
            os.environ["RAY_AUTH_MODE"] = "token"
            os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
        from blender_coco.child_python import child_env
        os.environ["PYTHONPATH"] = child_env()["PYTHONPATH"]  # the workers import this blender_coco
    try:
        import ray
    except ImportError:
        raise UserError(f"--ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def connect(ray, address: str) -> None:
    """``ray.init`` for ``auto``, ``local`` or an address (see the module docstring)."""
    quiet = dict(logging_level=logging.ERROR, log_to_driver=False)
    hook = f"{__name__}.prepare_worker"
    if _hide_broken_pyarrow():  # the workers need the same
        if address == "local":  # Ray's own variable for the hook, inherited by the prestarted workers
            os.environ.setdefault("__RAY_WORKER_PROCESS_SETUP_HOOK_ENV_VAR", hook)
        else:  # costs the workers their warm start (about a second, once per worker)
            quiet["runtime_env"] = {"worker_process_setup_hook": hook}
    if address == "local":
        ray.init(include_dashboard=False, **quiet)
        _quiet_task_errors(ray)
        return
    target = "auto" if address == "auto" else address
    if address == "auto" and os.environ.get("RAY_ADDRESS"):
        probe(os.environ["RAY_ADDRESS"])
    elif address != "auto":
        probe(address)
    try:
        ray.init(address=target, **quiet)
    except ConnectionError as exc:
        if address == "auto":
            raise UserError("--ray auto found no running Ray cluster ($RAY_ADDRESS is unset and no head runs on "
                            "this machine); start one with 'ray start --head', pass --ray HOST:PORT, or use "
                            "--ray local") from None
        raise UserError(f"cannot connect to the Ray cluster at {address}: {str(exc).splitlines()[0]}") from None
    except Exception as exc:
        if type(exc).__name__ == "AuthenticationError":
            raise UserError(f"the Ray cluster at {target} refused this driver's token: set RAY_AUTH_TOKEN (or "
                            "~/.ray/auth_token) to the cluster's token") from None
        raise
    _quiet_task_errors(ray)


def _quiet_task_errors(ray) -> None:
    """Ray prints every failed task attempt (a traceback) on the driver's stderr; the driver
    logs one line per failed attempt itself, so route Ray's text to the debug log."""
    worker = getattr(getattr(ray, "_private", None), "worker", None)
    original = getattr(worker, "print_to_stdstream", None)
    if original is None:
        return

    def route(data, ignore_prefix=False):
        if data.get("pid") == "raylet":
            log.debug("ray: %s", " ".join(data.get("lines", [])))
        else:
            original(data, ignore_prefix=ignore_prefix)

    worker.print_to_stdstream = route


def task_slots(nodes: list[dict], cpus: int, gpus: float) -> int:
    """How many tasks of ``cpus`` CPUs and ``gpus`` GPUs the alive nodes can run at once."""
    total = 0
    for node in nodes:
        if not node.get("Alive", True):
            continue
        res = node.get("Resources", {})
        n = int(res.get("CPU", 0) // cpus)
        if gpus:
            n = min(n, int(res.get("GPU", 0) // gpus))
        total += n
    return total


def check_resources(nodes: list[dict], options: RayOptions) -> int:
    """Slots for tasks; a one-line error when no node can run one (it would wait forever)."""
    slots = task_slots(nodes, options.threads_per_task, options.gpus_per_task)
    if slots:
        return slots
    alive = [n.get("Resources", {}) for n in nodes if n.get("Alive", True)]
    have = f"{len(alive)} node(s), {sum(r.get('CPU', 0) for r in alive):g} CPU, {sum(r.get('GPU', 0) for r in alive):g} GPU"
    if options.gpus_per_task and not any(r.get("GPU", 0) >= options.gpus_per_task for r in alive):
        raise UserError(f"--gpus-per-task {options.gpus_per_task:g}: no node of the Ray cluster has "
                        f"{options.gpus_per_task:g} GPU ({have}); start GPU nodes ('ray start ... --num-gpus N'), "
                        "or drop --gpus-per-task to render on CPUs")
    raise UserError(f"--threads-per-task {options.threads_per_task}: no node of the Ray cluster has "
                    f"{options.threads_per_task} CPUs ({have}); lower --threads-per-task")


# -- the tasks -----------------------------------------------------------------------

class Tracker:
    """Attempts of each task (Ray actor): node, start, first frame written, end."""

    def __init__(self) -> None:
        self.attempts: dict[int, list[dict]] = {}

    def started(self, number: int, node: str, host: str, when: float) -> None:
        self.attempts.setdefault(number, []).append({"node": node, "host": host, "start": when,
                                                     "first_frame": None, "end": None, "error": None})

    def first_frame(self, number: int, when: float) -> None:
        self.attempts[number][-1]["first_frame"] = when

    def ended(self, number: int, when: float, error: str | None) -> None:
        self.attempts[number][-1].update(end=when, error=error)

    def snapshot(self) -> dict[int, list[dict]]:
        return self.attempts


def render_task(tracker, number: int, argv: list[str], blender: str | None, out_dir: str,
                frames: tuple[int, int]) -> task.Outcome:
    """The body of a Ray task: render ``frames`` with ``argv`` in a Blender process of its own."""
    import ray

    cmd = task.blender_command(argv, blender)
    node = ray.get_runtime_context().get_node_id()
    tracker.started.remote(number, node, socket.gethostname(), time.time())
    outcome = task.run_blender(cmd, out_dir, frames, on_first_frame=lambda t: tracker.first_frame.remote(number, t))
    tracker.ended.remote(number, time.time(), None if outcome.ok else outcome.reason())
    if outcome.crashed:
        raise task.BlenderDied(outcome.reason())
    return outcome


def _absolute(config: RenderConfig) -> RenderConfig:
    """Paths that mean the same on every node of a shared filesystem."""
    def absolute(path):
        return os.path.abspath(path) if path else path

    randomize = config.randomize if config.randomize in (None, "off") else absolute(config.randomize)
    export = dataclasses.replace(config.export, caption_templates=absolute(config.export.caption_templates))
    return dataclasses.replace(config, out=absolute(config.out), scene=absolute(config.scene), randomize=randomize,
                               export=export)


def resume_command(argv: list[str] | None = None) -> str:
    """The command line of this run with ``--resume`` (instead of ``--overwrite``)."""
    args = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--overwrite"]
    return shlex.join(["blender-coco", *args] + ([] if "--resume" in args else ["--resume"]))


def _prepare(config: RenderConfig, options: RayOptions) -> None:
    """Check the scene and prepare the output folder once, here, as a one-process run would."""
    cmd = task.blender_command(task.render_argv(dataclasses.replace(config, stage="prepare")), options.blender)
    log.debug("checking the scene and the output folder: %s", shlex.join(cmd))
    outcome = task.run_blender(cmd, config.out, tail_lines=200)
    skip = ("rendered 0 frame(s)", "output:", "dataset written:")
    for line in outcome.tail:
        if line.strip() and not line.startswith(task.ERROR_PREFIX) and not line.startswith(skip):
            log.info("%s", line)
    if not outcome.ok and stop.requested() is not None:  # Ctrl-C reached the check's Blender too
        count = len(plan.complete_frames(config.out, config.frames, config.image_format))
        raise stop.Interrupted(stop.requested(), stop.stopped_message(stop.requested(), count, config.frames, config.out))
    if not outcome.ok:
        raise UserError(outcome.error if outcome.error else f"checking the scene failed: {outcome.reason()}")


def render_on_ray(config: RenderConfig, options: RayOptions, argv: list[str] | None = None) -> ExportResult:
    """Render ``config`` on Ray and export once; returns what the export wrote (module docstring)."""
    check(config.shard is None, "--ray and --shard exclude each other: Ray splits the run itself")
    check(config.frame_range is None, "--ray and --frame-range exclude each other: Ray splits the run itself")
    check(config.stage != "prepare", "--ray renders the run; --prepare-only is for its own check")
    config = _absolute(config)
    local = options.address == "local"
    ray = import_ray(local)
    # a private Ray on this machine cannot lack what is checked after its start: check the scene
    # and the output folder while it starts (a few seconds saved per run)
    early = local and not options.gpus_per_task and options.threads_per_task <= (os.cpu_count() or 1)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        prepared = pool.submit(_prepare, config, options) if early else None
        try:
            connect(ray, options.address)
            stop.reinstall()  # ray.init installs its own SIGTERM handler
        finally:
            if prepared is not None:
                concurrent.futures.wait([prepared])
    refs: dict = {}
    try:
        slots = check_resources(ray.nodes(), options)
        if prepared is not None:
            prepared.result()
        else:
            _prepare(config, options)
        _run(ray, config, options, slots, refs, argv)
    finally:
        for ref in refs:  # interrupted or failed: no task outlives the run
            ray.cancel(ref, force=True)
        ray.shutdown()  # stops a local Ray; leaves a cluster
    if config.stage != "all":
        log.info("frames rendered into %s; 'blender-coco export %s' writes the annotations", config.out, config.out)
        return ExportResult(files={}, images=0)
    with stop.exit_now_on_signal():
        result = export(config)
    counts = result.annotations
    log.info("dataset: %d image(s), %d annotation(s)%s", result.images, sum(counts.values()),
             ": " + ", ".join(f"{n} {c}" for c, n in sorted(counts.items())) if counts else "")
    log.info("dataset written: %s", result)
    return result


def export_jobs(frames: int, cpus: int | None = None) -> int:
    """Export processes for the one export at the end: one per 500 frames, at most one per CPU."""
    return max(1, min(cpus or os.cpu_count() or 1, frames // 500))


def export(config: RenderConfig) -> ExportResult:
    """The export of a one-process run (same files, same bytes), in :func:`export_jobs` processes.
    The driver runs in blender-coco's own Python, which has the exporter's dependencies."""
    from blender_coco.coco.export import export_dataset

    return export_dataset(config.out, config.export, jobs=export_jobs(config.frames))


def _run(ray, config: RenderConfig, options: RayOptions, slots: int, refs: dict, argv) -> None:
    """Submit the tasks, follow them, check that every frame is complete."""
    t_start = time.monotonic()
    done = plan.sidecar_indices(config.out, config.frames)  # after the check: complete frames only
    workers = min(options.workers or slots, slots)
    chunk = options.chunk or plan.default_chunk(config.frames, workers)
    chunks = plan.plan_chunks(config.frames, chunk, done)
    log.info("Ray: %d task(s) of up to %d frame(s) on %d slot(s) (%d CPU%s per task)%s", len(chunks), chunk, slots,
             options.threads_per_task, f", {options.gpus_per_task:g} GPU" if options.gpus_per_task else "",
             f", at most {options.workers} at once" if options.workers else "")
    tracker = ray.remote(num_cpus=0)(Tracker).remote()
    remote = ray.remote(render_task).options(num_cpus=options.threads_per_task, num_gpus=options.gpus_per_task,
                                             max_retries=options.retries, retry_exceptions=[task.BlenderDied])
    base = dataclasses.replace(config, resume=True, overwrite=False, stage="render", threads=options.threads_per_task)
    pending = list(enumerate(chunks))
    submitted: dict[int, float] = {}
    failures: dict[int, str] = {}
    reported: set[tuple[int, int]] = set()
    bar = Progress(config.frames, done=len(done))
    attempts: dict = {}
    next_poll, poll_every = 0.0, 1.0
    try:
        while pending or refs:
            if stop.requested() is not None:  # Ctrl-C or SIGTERM: cancel the tasks (finally), keep what is complete
                count = len(plan.complete_frames(config.out, config.frames, config.image_format))
                raise stop.Interrupted(stop.requested(), stop.stopped_message(stop.requested(), count, config.frames,
                                                                              config.out))
            while pending and (options.workers is None or len(refs) < options.workers):
                number, frames = pending.pop(0)
                argv_task = task.render_argv(dataclasses.replace(base, frame_range=frames))
                refs[remote.remote(tracker, number, argv_task, options.blender, config.out, frames)] = (number, frames)
                submitted[number] = time.time()
            ready, _ = ray.wait(list(refs), num_returns=1, timeout=0.5)
            for ref in ready:
                number, frames = refs.pop(ref)
                try:
                    outcome = ray.get(ref)
                except Exception as exc:  # retries used up (BlenderDied), worker or node lost
                    cause = getattr(exc, "cause", None) or exc
                    text = str(cause).strip()
                    failures[number] = text.splitlines()[-1] if text else type(cause).__name__
                    if not isinstance(cause, task.BlenderDied):  # those are logged from the tracker
                        log.warning("task %d (frames %d-%d) failed: %s", number, frames[0], frames[1] - 1,
                                    failures[number])
                    continue
                if outcome.error is not None:  # the scene or the settings: every retry would fail alike
                    raise UserError(outcome.error)
            if time.monotonic() >= next_poll or not (pending or refs):
                t0 = time.monotonic()
                count = len(plan.sidecar_indices(config.out, config.frames))
                attempts = _snapshot(ray, tracker, attempts)
                poll_every = max(1.0, 10 * (time.monotonic() - t0))  # listing a huge records/ on NFS is slow
                next_poll = time.monotonic() + poll_every
                _log_failed_attempts(attempts, chunks, reported)
                running = len({n for n, _ in refs.values()} & set(attempts))  # in flight and started
                retried = sum(1 for a in attempts.values() if len(a) > 1)
                note = f"{running} task(s) running" + (f", {retried} retried" if retried else "")
                final = not (pending or refs)
                if count < config.frames or count != bar.done or (final and note != bar.note):
                    bar.update(count, note)  # (at 100%, not once per poll)
    finally:
        bar.close()
    attempts = _snapshot(ray, tracker, attempts)
    seconds = time.monotonic() - t_start
    _report(attempts, submitted, len(done), seconds, config)
    missing = sorted(set(range(config.frames)) - plan.complete_frames(config.out, config.frames, config.image_format))
    if missing:
        why = f" (last error: {list(failures.values())[-1]})" if failures else ""
        raise UserError(f"{len(missing)} of {config.frames} frame(s) never rendered: frames "
                        f"{plan.format_frames(missing)}{why}; the other frames are kept, resume them with: "
                        f"{resume_command(argv)}")


def _snapshot(ray, tracker, last: dict) -> dict:
    """The tracker's record of task attempts; the last one if the tracker is gone (its node lost)."""
    try:
        return ray.get(tracker.snapshot.remote(), timeout=30)
    except Exception as exc:
        log.debug("task tracker unavailable: %s", exc)
        return last


def _log_failed_attempts(attempts: dict, chunks: list, reported: set) -> None:
    """One line per failed task attempt, once."""
    for number, tries in attempts.items():
        for k, a in enumerate(tries):
            if a["error"] and (number, k) not in reported:
                reported.add((number, k))
                start, stop = chunks[number]
                log.warning("task %d (frames %d-%d) failed on %s: %s (its complete frames are kept)",
                            number, start, stop - 1, a["host"], a["error"])


def _report(attempts: dict, submitted: dict, kept: int, seconds: float, config: RenderConfig) -> None:
    """Log what the run did: frames, nodes, retries, scheduling overhead per task."""
    rendered = len(plan.sidecar_indices(config.out, config.frames)) - kept
    tasks_by_node: dict[str, int] = {}
    for tries in attempts.values():
        for a in tries:
            key = f"{a['host']} ({a['node'][:8]})"
            tasks_by_node[key] = tasks_by_node.get(key, 0) + 1
    retried = sum(len(t) - 1 for t in attempts.values())
    rate = rendered / seconds * 60 if seconds > 0 else 0.0
    log.info("rendered %d frame(s)%s in %s, %.1f frames/min, %d task(s) on %d node(s)%s", rendered,
             f" ({kept} kept from an earlier run)" if kept else "", duration(seconds), rate, len(attempts),
             len(tasks_by_node), f", {retried} retried" if retried else "")
    log.info("task attempts per node: %s", ", ".join(f"{k}: {v}" for k, v in sorted(tasks_by_node.items())))
    start_delay = [tries[0]["start"] - submitted[n] for n, tries in attempts.items() if n in submitted]
    first = [a["first_frame"] - a["start"] for tries in attempts.values() for a in tries if a["first_frame"]]
    if start_delay and first:
        log.info("per task: %.2f s from submission to start (median; Ray), %.2f s from start to its first frame "
                 "written (median; Blender start, scene load, one frame)", statistics.median(start_delay),
                 statistics.median(first))

