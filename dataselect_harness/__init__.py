"""The benchmark harness behind ``train_agent.py``: it plans, runs and reports episodes of controllers.

One module per job, in the order a bench runs:

- :mod:`.plan`: arguments (:class:`~.plan.BenchArgs`), the ``k=v`` parser, and the episode matrix;
- :mod:`.run`: one episode (``agents.play_episode``) and the executors: in-process, a process pool, Ray;
- :mod:`.results`: the append-only ``results.jsonl`` of a run;
- :mod:`.report`: ``summary.csv`` / ``summary.md`` and the plots;
- :mod:`.frontier`, :mod:`.leaderboard`: the full-data compute frontier and the cross-scenario ranking;
- :mod:`.suites`: named lists of scenarios (``train_agent.py suite NAME``) and their leaderboard;
- :mod:`.sb3_train`: training Stable-Baselines3 policies (``train_agent.py train``).

The harness is the last consumer of the data flow (data -> trainer -> stats -> env -> agent): no
module of ``dataselect_env`` outside this package imports it.
"""
