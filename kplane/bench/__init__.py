"""``kplane bench``: re-runnable figures for any API server with a kubeconfig.

* ``kplane bench api``     -- create/get/list/update/patch/delete and watch fan-out, from several worker
  processes with a lean HTTP/1.1 client (:mod:`kplane.bench.api`);
* ``kplane bench startup`` -- time to ``/readyz`` for ``kplane apiserver`` on memory, sqlite and etcd, the
  in-process LocalCluster, and ``kplane up`` to all nodes Ready (:mod:`kplane.bench.startup`);
* ``kplane bench scale``   -- N simulated nodes and M pods through Deployments (:mod:`kplane.bench.scale`);
* ``kplane bench report``  -- a results JSON as a table, or as the README's performance section (``--markdown``).

Importing this package is cheap; every benchmark imports what it needs when it runs.
"""
