"""Several pyTorrent instances sharing one Redis (``PYTORRENT_REDIS_URL``).

Optional: without the setting nothing here runs, the ``redis`` package is not
needed, and one process does everything alone. With it, :class:`~.link.Cluster`
carries this instance's messages to the others, :mod:`.invalidation` empties
every instance's auth cache on a change (:mod:`.announce` does the same for the
``pytorrent`` command), :mod:`.throttle` counts sign-in attempts
once for all, and :mod:`.lease` makes one instance at a time poll each watched
rTorrent.
"""

from .link import Cluster, check_redis

__all__ = ["Cluster", "check_redis"]
