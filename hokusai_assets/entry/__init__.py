"""Entry points: the ``hokusai`` command, the headless runner, the instance file. May import anything below."""
