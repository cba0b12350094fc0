"""The exit codes of the ``faas`` command, shared by its server and client commands."""

EXIT_OK = 0
EXIT_FUNCTION_ERROR = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_SERVER = 4

EXIT_CODES = """\
exit codes:
  0  success
  1  the function itself failed (invoke: it raised, ran out of memory or timed out)
  2  usage error or bad input (a flag, a path, JSON that does not parse)
  3  the server refused the request (4xx: not found, unauthorized, invalid)
  4  the server failed (5xx) or could not be reached
"""
