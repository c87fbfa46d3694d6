"""How a command ends on a problem its user can fix: one ``error: <message>`` line on stderr and an exit
status, never a traceback. The tools' ``main()`` return :func:`fail`'s status; the recipes end through
:func:`petl_core.recipe.recipe_main`.

Example:
    >>> import contextlib, io
    >>> with contextlib.redirect_stderr(io.StringIO()) as err:
    ...     status = fail(ValueError("run/hyperparams.yaml: not found\\n(more detail)"), first_line=True)
    >>> status, err.getvalue()
    (1, 'error: run/hyperparams.yaml: not found\\n')
"""
from __future__ import annotations

import sys


def error_message(problem: BaseException | str, first_line: bool = False) -> str:
    """The text of ``problem`` (an exception without a message: its ``repr``); ``first_line``: its first line
    (for messages of other libraries that go on with details).

    >>> error_message(KeyError()), error_message("a\\nb", first_line=True)
    ('KeyError()', 'a')
    """
    text = str(problem) or repr(problem)
    return text.splitlines()[0] if first_line and text.strip() else text


def fail(problem: BaseException | str, exit_code: int = 1, first_line: bool = False) -> int:
    """Print ``error: <message>`` (:func:`error_message`) on stderr; return ``exit_code`` for ``main()``."""
    print(f"error: {error_message(problem, first_line)}", file=sys.stderr)
    return exit_code
