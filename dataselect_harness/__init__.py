"""dataselect's harness: the verbs of ``train_agent.py`` (``bench``, ``suite``, ``report``, ``train``),
on top of the controllers (``agents``) and the environment (``dataselect_env``), as RL Baselines3
Zoo sits on Stable-Baselines3. Nothing below it imports it (``tests/test_layout.py`` checks).

Benchmarking controllers, one module per job, in the order a bench runs:

- :mod:`.options`: each command-line flag declared once, as a dataclass field; the CLI is generated;
- :mod:`.plan`: a bench's arguments (:class:`~.plan.BenchArgs`), the ``k=v`` parser, the episode matrix;
- :mod:`.bench`: the ``bench``, ``suite`` and ``report`` verbs (validate, run what is missing, report);
- :mod:`.run`: one episode (``agents.play_episode``) and the executors: in-process, a process pool, Ray;
- :mod:`.results`: the append-only ``results.jsonl`` of a run, and what identifies a row;
- :mod:`.report`: statistics against the full-data frontier (``dataselect_env.frontier``) and the
  tables ``summary.csv`` / ``summary.md``; :mod:`.plots`: the figures;
- :mod:`.bootstrap`: the statistics of the cross-scenario ranking (Agarwal et al. 2021), and
  :mod:`.leaderboard`: its tables (markdown, CSV) and the headroom of privileged oracles;
- :mod:`.suites`: named lists of scenarios (``train_agent.py suite NAME``), data only, and
  :mod:`.ranking`: a suite's results as the leaderboard's entries, baselines and headroom.

No module of the package imports another in a circle, function-level imports included
(``tests/test_layout.py`` checks).

Training policies (``train_agent.py train``, needs Stable-Baselines3):

- :mod:`.train`: the training envs, the model and ``learn`` (:class:`~.train.TrainArgs`);
- :mod:`.checkpoints`: checkpoints and ``--resume``; :mod:`.curves`: the held-out learning curve.
"""
