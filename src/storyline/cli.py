"""The command line: a thin click layer over the library."""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console

from . import __version__, config as config_mod
from .errors import StorylineError

console = Console(stderr=False)


def _errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except StorylineError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper


def _load_config(path: str | None) -> config_mod.PipelineConfig:
    return config_mod.load(path)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="storyline")
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
def cli(verbose: int) -> None:
    """storyline: turn scraped news pages into stories."""
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--out", default="storyline-out", show_default=True, help="Store folder.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="TOML config file.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: this process and -j workers; ray: Ray Data (pip install -e .[ray]).")
@click.option("--address", default=None, metavar="auto|ray://HOST:PORT",
              help="With --engine ray: join a running Ray cluster (auto: `ray start` on this host). "
                   "Default: a private local Ray.")
@click.option("-j", "--jobs", default=1, show_default=True, help="Worker processes (ray: CPUs of a local Ray).")
@click.option("--json", "as_json", is_flag=True, help="Print the stories as JSONL instead of a summary.")
@_errors
def run(inputs: tuple[str, ...], out: str, config_path: str | None, engine: str, address: str | None, jobs: int,
        as_json: bool) -> None:
    """Run every stage on INPUTS (files, folders, - for stdin); finished work is skipped.

    Example: storyline run ../shared/data/seeds -o storyline-out
    """
    from . import run as run_api
    from .report import print_summary

    if address and engine != "ray":
        raise click.UsageError("--address needs --engine ray")
    with console.status("storyline: reading, cleaning, aligning, clustering…"):
        results = run_api(list(inputs), out, config=_load_config(config_path), engine=engine, workers=jobs,
                          address=address)
    if as_json:
        for s in results.stories():
            click.echo(json.dumps(s, ensure_ascii=False, sort_keys=True))
    else:
        print_summary(console, results)


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--jsonl", is_flag=True, help="One JSON object per page: path, title, text.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="TOML config file.")
@_errors
def clean(inputs: tuple[str, ...], jsonl: bool, config_path: str | None) -> None:
    """Recover title and body of each input page (no store is written).

    Example: storyline clean page.txt --jsonl
    """
    from .report import clean_pages

    for row in clean_pages(list(inputs), _load_config(config_path)):
        if jsonl:
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            console.rule(row["path"])
            console.print(row.get("title") or "", style="bold", markup=False)
            console.print(row.get("text") or f"[rejected: {row.get('reject')}]", markup=False)


@cli.command("export")
@click.argument("out")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "parquet"]), default="jsonl", show_default=True)
@click.option("--table", "name", type=click.Choice(["stories", "articles", "alignments", "edges", "reuse_clusters",
                                                    "quotes", "figures", "facts", "rejects"]),
              default="stories", show_default=True)
@click.option("-o", "--output", "dest", default=None, help="File to write (stdout if omitted).")
@_errors
def export_cmd(out: str, fmt: str, name: str, dest: str | None) -> None:
    """Export a table of the store OUT.

    Example: storyline export storyline-out --format csv --table quotes -o quotes.csv
    """
    from . import export, open as open_store

    export.write(open_store(out).store, name, fmt, dest)


@cli.command()
@click.argument("out")
@_errors
def rejects(out: str) -> None:
    """List the inputs that were rejected, with their reasons.

    Example: storyline rejects storyline-out
    """
    from . import open as open_store

    for r in open_store(out).table("rejects").to_pylist():
        where = r["path"] if r["record"] is None else f"{r['path']}#{r['record']}"  # align: path is "a_id|b_id"
        click.echo(f"{where}\t{r['stage']}\t{r['reason']}\t{r['detail']}")


@cli.command()
@click.argument("out", type=click.Path(exists=True, file_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (localhost only by default).")
@click.option("-p", "--port", default=8000, show_default=True, help="Port to listen on.")
@_errors
def serve(out: str, host: str, port: int) -> None:
    """Browse the stories in OUT in a local web UI; every page has a .json twin.

    Example: storyline serve storyline-out --port 8000
    """
    from .web.app import serve as serve_web

    serve_web(out, host=host, port=port)


@cli.group()
def story() -> None:
    """Correct stories by hand; corrections are kept and re-applied on every run."""


@story.command("merge")
@click.argument("out", type=click.Path(exists=True, file_okay=False))
@click.argument("story_ids", nargs=-1, required=True)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="TOML config file.")
@_errors
def story_merge(out: str, story_ids: tuple[str, ...], config_path: str | None) -> None:
    """Merge two or more stories into one (the earliest story keeps its id).

    Example: storyline story merge storyline-out 3f2a9c0d1e2b4a5c 9b1c0d2e3f4a5b6c
    """
    from . import corrections

    rows = corrections.record(out, "merge", list(story_ids), _load_config(config_path))
    click.echo(f"merged {len(set(story_ids))} stories ({rows.num_rows} articles), correction {rows['correction_id'][0]}")


@story.command("split")
@click.argument("out", type=click.Path(exists=True, file_okay=False))
@click.argument("article_ids", nargs=-1, required=True)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="TOML config file.")
@_errors
def story_split(out: str, article_ids: tuple[str, ...], config_path: str | None) -> None:
    """Move ARTICLE_IDS out of their story into a new story of their own.

    Example: storyline story split storyline-out 76693e0c1d2e3f4a
    """
    from . import corrections

    rows = corrections.record(out, "split", list(article_ids), _load_config(config_path))
    moved = sum(s == "moved" for s in rows["side"].to_pylist())
    click.echo(f"split {moved} articles off, correction {rows['correction_id'][0]}")


def main() -> None:
    """Console entry point."""
    cli(prog_name="storyline")


if __name__ == "__main__":
    sys.exit(main())
