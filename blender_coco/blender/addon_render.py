"""Rendering a dataset from the add-on: the render and cancel operators.

``BLENDER_COCO_OT_render`` builds the same :class:`RenderConfig` as the CLI (from
``Scene.blender_coco``) and calls the same pipeline:

* ``execute`` (background mode, scripts, tests) runs
  :func:`blender_coco.blender.pipeline.render_dataset` to the end;
* ``invoke`` (a click in the UI) starts a :class:`RenderSession` and returns to the
  event loop; a window timer renders one frame per tick, so the UI shows progress
  between frames and Esc or the panel's Cancel button stop the run.

Errors the user can fix (:class:`UserError`) become one ``ERROR`` report; anything
else is a bug and keeps its traceback. The run's warnings (what it changes in the
scene, what it cannot annotate: the lines ``blender-coco render`` logs) become one
``WARNING`` report each (:class:`WarningLog`). Messages name settings by config field;
:func:`panel_message` says them as the panel's fields (the CLI says them as flags).
"""

import logging

import bpy
from bpy.types import Operator

from blender_coco.blender.addon_props import render_config
from blender_coco.errors import UserError

log = logging.getLogger(__name__)

TIMER_STEP = 0.01  # seconds between frames; a frame itself blocks the UI while it renders

IDLE, RUNNING, FINISHED, CANCELLED, FAILED = "IDLE", "RUNNING", "FINISHED", "CANCELLED", "FAILED"


class WarningLog(logging.Handler):
    """Collects the warnings blender-coco logs while attached (a context manager), for the operator's reports."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self._shown = 0
        self._logger = logging.getLogger("blender_coco")
        self._echo = False

    def emit(self, record):
        self.messages.append(record.getMessage())
        if self._echo and logging.lastResort is not None:  # still print them where they went before
            logging.lastResort.handle(record)

    def attach(self) -> "WarningLog":
        if self not in self._logger.handlers:
            self._echo = not self._logger.hasHandlers()  # no handler: Python printed them to stderr
            self._logger.addHandler(self)
        return self

    def detach(self) -> None:
        self._logger.removeHandler(self)

    def __enter__(self) -> "WarningLog":
        return self.attach()

    def __exit__(self, *exc) -> None:
        self.detach()

    def take(self) -> list[str]:
        """The warnings not taken before."""
        new, self._shown = self.messages[self._shown:], len(self.messages)
        return new


def report_warnings(operator, warnings: WarningLog) -> None:
    """One ``WARNING`` report per new warning of the run."""
    for message in warnings.take():
        operator.report({"WARNING"}, message)


class RenderSession:
    """One interactive run: a pipeline ``RenderJob`` stepped one frame per :meth:`tick`.

    ``state`` goes IDLE -> RUNNING -> FINISHED | CANCELLED | FAILED. ``result`` is the
    export's ExportResult after FINISHED (``str`` names the files written), ``error``
    the UserError text after FAILED.
    """

    def __init__(self, job):
        self.job = job
        self.state = IDLE
        self.result = None
        self.error = None
        self.cancel_requested = False
        self.warnings = WarningLog()

    @property
    def done(self) -> int:
        return self.job.done

    @property
    def total(self) -> int:
        return self.job.total

    @property
    def active(self) -> bool:
        return self.state in (IDLE, RUNNING)

    def start(self) -> None:
        """Prepare the job (validates the scene; may raise UserError)."""
        self.warnings.attach()
        try:
            self.job.start()
        except BaseException:
            self.warnings.detach()
            raise
        self.state = RUNNING

    def cancel(self) -> None:
        """Ask the run to stop before its next frame."""
        self.cancel_requested = True

    def tick(self) -> str:
        """Render the next frame (or finish, or cancel) and return the new state."""
        if self.state != RUNNING:
            return self.state
        if self.cancel_requested:
            self._abort(CANCELLED)
            return self.state
        try:
            more = self.job.render_next()
            if not more or self.job.done >= self.job.total:
                try:
                    self.result = self.job.finish()
                finally:
                    self.warnings.detach()
                self.state = FINISHED
        except UserError as err:
            self.error = panel_message(err)
            self._abort(FAILED)
        except BaseException:
            self._abort(FAILED)
            raise
        return self.state

    def _abort(self, state: str) -> None:
        self.state = state
        self.warnings.detach()
        try:
            self.job.abort()
        except Exception:  # the original state (cancel, error) is what the user must see
            log.exception("aborting the render job failed")


#: How the panel names a setting that an error message names (UserError fields).
PANEL_FIELDS = {
    "out": "COCO > Output > Folder",
    "frames": "COCO > Output > Frames",
    "samples": "COCO > Output > Render Settings > Samples",
    "device": "COCO > Output > Render Settings > Device",
    "python": "COCO > Output > Export Python",
    "randomize": "COCO > Output > Randomization > Config",
    "cameras": "COCO > Output > Cameras",
    "amodal": "COCO > Output > Amodal",
    "mask_threshold": "COCO > Output > Threshold",
}


def panel_name(field: str) -> str:
    """The panel field of a setting; a setting the panel lacks keeps its command-line name."""
    return PANEL_FIELDS.get(field) or "--" + field.replace("_", "-")


def panel_message(err: UserError) -> str:
    """A pipeline error as the panel's user reads it: settings named by their panel fields."""
    return err.render(panel_name)


_session = None  # the interactive run the panel shows, if any


def current_session():
    """The interactive run (running or last finished), or None."""
    return _session


def clear_session() -> None:
    """Abort a run still going and forget it (used by unregister)."""
    global _session
    if _session is not None and _session.state == RUNNING:
        _session._abort(CANCELLED)
    _session = None


def _redraw(context) -> None:
    screen = getattr(context, "screen", None)
    for area in (screen.areas if screen else ()):
        if area.type == "VIEW_3D":
            area.tag_redraw()


def _progress_callback(wm):
    """``progress(done, total)`` for :func:`render_dataset`: the window manager's progress."""
    def progress(done, total):
        wm.progress_update(done)
    return progress


class BLENDER_COCO_OT_render(Operator):
    """Render the scene into a COCO dataset with the settings of the COCO panel"""

    bl_idname = "blender_coco.render"
    bl_label = "Render COCO dataset"

    _timer = None
    _session = None

    @classmethod
    def poll(cls, context):
        if _session is not None and _session.active:
            cls.poll_message_set("A COCO render is already running")
            return False
        return context.scene is not None

    def _config(self, context):
        settings = getattr(context.scene, "blender_coco", None)
        if settings is None:
            raise UserError("the blender-coco add-on is not registered on this scene; enable the add-on")
        return render_config(settings)

    def execute(self, context):
        from blender_coco.blender import pipeline

        wm = context.window_manager
        warnings = WarningLog()
        try:
            config = self._config(context)
            wm.progress_begin(0, config.frames)
            try:
                with warnings:
                    path = pipeline.render_dataset(config, context.scene, progress=_progress_callback(wm))
            finally:
                wm.progress_end()
        except UserError as err:
            report_warnings(self, warnings)
            self.report({"ERROR"}, panel_message(err))
            return {"CANCELLED"}
        report_warnings(self, warnings)
        self.report({"INFO"}, f"COCO dataset written: {path}")
        return {"FINISHED"}

    def invoke(self, context, event):
        global _session
        if context.window is None or bpy.app.background:
            return self.execute(context)
        from blender_coco.blender import pipeline

        try:
            session = RenderSession(pipeline.RenderJob(self._config(context), context.scene))
            session.start()
        except UserError as err:
            self.report({"ERROR"}, panel_message(err))
            return {"CANCELLED"}
        _session = self._session = session
        report_warnings(self, session.warnings)
        wm = context.window_manager
        wm.progress_begin(0, max(session.total, 1))
        self._timer = wm.event_timer_add(TIMER_STEP, window=context.window)
        wm.modal_handler_add(self)
        _redraw(context)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        session = self._session
        if session is None or session is not _session:  # add-on unregistered or run replaced
            return self._end(context, {"CANCELLED"})
        if event.type == "ESC" and event.value == "PRESS":
            session.cancel()
        elif event.type != "TIMER" and not session.cancel_requested:
            return {"PASS_THROUGH"}
        try:
            state = session.tick()
        except BaseException:  # a bug: the job is aborted; stop the timer, keep the traceback
            self._end(context, {"CANCELLED"})
            raise
        context.window_manager.progress_update(session.done)
        report_warnings(self, session.warnings)
        _redraw(context)
        if state == RUNNING:
            return {"RUNNING_MODAL"}
        if state == FINISHED:
            self.report({"INFO"}, f"COCO dataset written: {session.result}")
            return self._end(context, {"FINISHED"})
        if state == FAILED:
            self.report({"ERROR"}, session.error or "COCO render failed; see the system console")
        else:
            job = session.job
            self.report({"WARNING"}, f"COCO render cancelled: {session.done} of {session.total} frame(s) complete "
                                     f"and kept in {job.out_dir} (not exported)")
        return self._end(context, {"CANCELLED"})

    def _end(self, context, result):
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        _redraw(context)
        return result


class BLENDER_COCO_OT_render_cancel(Operator):
    """Stop the running COCO render after the current frame"""

    bl_idname = "blender_coco.render_cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        return _session is not None and _session.state == RUNNING

    def execute(self, context):
        _session.cancel()
        return {"FINISHED"}


CLASSES = (BLENDER_COCO_OT_render, BLENDER_COCO_OT_render_cancel)
