"""``ProfileMode``: Theano's older way to profile, which the tutorial still names.

Every function compiled with one ``ProfileMode`` adds its times to that mode's
``ProfileStats``; ``print_summary()`` prints them (so does the interpreter's exit,
like any profile).  ``mode='ProfileMode'`` uses one shared instance, the
``profile_mode`` of this module.  The ``profile=True`` flag is the newer spelling.
"""

from __future__ import annotations

from theanine.compile.mode import Mode, register_mode
from theanine.compile.profiling import ProfileStats


class ProfileMode(Mode):
    """A Mode whose functions are profiled together: ``ProfileMode(linker, optimizer)``."""

    def __init__(self, linker=None, optimizer="auto", memory: bool | None = None):
        super().__init__(linker, optimizer, name="ProfileMode")
        self.profile_stats = ProfileStats(name="ProfileMode", memory=memory)

    def print_summary(self, file=None, n_apply: int | None = None,
                      n_ops: int | None = None) -> None:
        """Print the profile of every function compiled with this mode."""
        self.profile_stats.summary(file=file, n_apply=n_apply, n_ops=n_ops)

    def __repr__(self):
        return f"ProfileMode(linker={self.linker!r}, optimizer={self.query.name!r})"


_shared: list[ProfileMode] = []


def shared_profile_mode() -> ProfileMode:
    """The instance ``mode='ProfileMode'`` stands for (made at first use)."""
    if not _shared:
        _shared.append(ProfileMode())
    return _shared[0]


register_mode("ProfileMode", shared_profile_mode)
