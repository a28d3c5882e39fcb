"""The offline server's pictures: a prompt read, laid out as a scene and painted, the same every time it is asked.

It knows nothing of HTTP or of the models' limits (the server checks requests first and asks it only for pixels),
so it can be used, tested and benchmarked alone.  ``draw`` is its face; the rest are its parts: ``reading`` reads a
prompt, ``scene`` lays it out, ``backdrops``, ``pictograms`` and ``styles`` paint it, ``revised`` says what it shows,
``chance`` and ``memo`` make it deterministic and cheap to ask again.  The server imports it only when a picture is
first needed (it and numpy take a few tenths of a second), so starting the server stays quick.
"""
