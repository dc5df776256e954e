"""Coverage-guided fuzzing of the Clean step with atheris (optional: ``pip install atheris``).

    python tests/fuzz/clean_atheris.py -max_total_time=600      # run longer by hand

Any page text, HTML or not, must come out as one ARTICLE row: a body of at least ``min_body_chars``,
or a reject with a reason. An exception inside cleaning shows up as a ``clean_error`` reject (Clean
never raises), which this harness treats as a crash. The hypothesis twin runs in the test suite.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["storyline"]):
    from storyline.config import CleanConfig
    from storyline.steps import ingest
    from storyline.steps.base import REJECT_COLUMN
    from storyline.steps.clean import Clean

# No per-page SIGALRM limit here: libFuzzer's own -timeout uses that signal.
CLEAN = Clean(CleanConfig(timeout_s=0))


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    kind = "html" if fdp.ConsumeBool() else "text"
    title = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 200)) if fdp.ConsumeBool() else None
    content = fdp.ConsumeUnicodeNoSurrogates(len(data))
    pages, _ = ingest.to_tables([ingest._page(f"fuzz.{'html' if kind == 'html' else 'txt'}", 0, kind, content,
                                              title=title)])
    out = CLEAN(pages)
    row = out.to_pylist()[0]
    if out.num_rows != 1 or not out.schema.equals(Clean.output_schema):
        raise AssertionError(f"{out.num_rows} rows, schema {out.schema}")
    reason = row[REJECT_COLUMN]
    if reason is None and len(row["text"]) < CLEAN.config.min_body_chars:
        raise AssertionError(f"kept a body of {len(row['text'])} chars")
    if reason is not None and (row["text"] != "" or reason.startswith("clean_error")):
        raise AssertionError(f"reject {reason!r} with text {row['text'][:80]!r}")


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
