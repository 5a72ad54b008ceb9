"""The `geowarn` command line: the composition root of every process."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from geowarn.cli_users import users_app
from geowarn.logging_setup import configure_logging
from geowarn.runtime import (
    NoBrokerError,
    broker_address_file,
    prepare_database,
    prepare_topics,
    resolve_bootstrap,
)
from geowarn.settings import Settings

log = logging.getLogger("geowarn")

app = typer.Typer(help="geowarn: geological-hazard early warning.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_show_locals=False)
points_app = typer.Typer(help="The risk-point registry.", no_args_is_help=True)
app.add_typer(points_app, name="points")
rasters_app = typer.Typer(help="Raster products: announce them to the raster worker.",
                          no_args_is_help=True)
app.add_typer(rasters_app, name="rasters")
app.add_typer(users_app, name="users")


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:
        typer.echo(f"error: invalid settings: {exc}", err=True)
        raise typer.Exit(2) from exc


def _connected_settings() -> Settings:
    try:
        return resolve_bootstrap(_settings())
    except NoBrokerError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _stop_event_on_signals() -> threading.Event:
    """A stop event set by SIGTERM or SIGINT, so workers finish their batch and commit."""
    stop = threading.Event()

    def handler(signum, _frame):
        log.info("received %s, finishing the current batch", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


@app.callback()
def main(log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO") -> None:
    configure_logging(log_level)


@app.command()
def schemas(out: Annotated[Path, typer.Option(help="output directory")] = Path("docs/topics")) -> None:
    """Write the JSON Schema of every topic's messages."""
    from geowarn.schemas_doc import write_topic_schemas

    for path in write_topic_schemas(out):
        typer.echo(path)


@app.command()
def broker(port: Annotated[int, typer.Option(help="first port to try")] = 0) -> None:
    """Run the embedded Kafka-compatible broker (Tansu) in the foreground."""
    from geowarn.embedded import start_broker

    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    running = start_broker(port or settings.kafka_port, log_path=settings.data_dir / "tansu.log")
    broker_address_file(settings).write_text(running.bootstrap)
    prepare_topics(settings.model_copy(update={"kafka_bootstrap": running.bootstrap}))
    typer.echo(f"embedded broker listening on {running.bootstrap} (memory only; Ctrl-C stops it)")
    stop = _stop_event_on_signals()
    try:
        while not stop.wait(0.5):
            if running.process.poll() is not None:
                typer.echo(f"error: the broker exited with status {running.process.returncode}", err=True)
                raise typer.Exit(1)
    finally:
        running.stop()
        broker_address_file(settings).unlink(missing_ok=True)


@app.command("db-upgrade")
def db_upgrade() -> None:
    """Apply database migrations (every process also does this at start)."""
    settings = _settings()
    prepare_database(settings)
    typer.echo(f"database at {settings.effective_database_url.split('@')[-1]} is up to date")


@app.command("topics-create")
def topics_create() -> None:
    """Create the topics that do not exist yet (idempotent)."""
    settings = _connected_settings()
    created = prepare_topics(settings)
    typer.echo("created: " + (", ".join(created) if created else "nothing, all exist"))


@points_app.command("import")
def points_import(
    file: Annotated[Path, typer.Argument(help="GeoJSON, GeoPackage, zipped Shapefile or CSV")],
    skip_invalid: Annotated[bool, typer.Option(help="import the valid rows of a file with errors")] = False,
) -> None:
    """Import risk points; a file with errors imports nothing unless --skip-invalid."""
    from geo.boundaries import Boundaries
    from geo.importers import ImportFileError, read_risk_points
    from store.db import make_engine, session_factory, session_scope
    from store.points import upsert_points

    settings = _settings()
    try:
        report = read_risk_points(file, boundaries=Boundaries.load())
    except ImportFileError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if report.rejected:
        typer.echo(report.format_report(), err=True)
        if not skip_invalid:
            typer.echo(f"error: {len(report.rejected)} invalid row(s); nothing imported "
                       "(fix them or pass --skip-invalid)", err=True)
            raise typer.Exit(1)
    prepare_database(settings)
    engine = make_engine(settings.effective_database_url)
    with session_scope(session_factory(engine)) as session:
        written = upsert_points(session, report.points)
    typer.echo(f"imported {written} risk point(s) from {file}"
               + (f"; skipped {len(report.rejected)} invalid" if report.rejected else ""))


@points_app.command("count")
def points_count() -> None:
    """Print how many risk points the registry holds."""
    from store.db import make_engine, session_factory, session_scope
    from store.points import count_points

    settings = _settings()
    prepare_database(settings)
    with session_scope(session_factory(make_engine(settings.effective_database_url))) as session:
        typer.echo(count_points(session))


@app.command("demo-data")
def demo_data(
    points: Annotated[int, typer.Option(min=1, max=500_000, help="how many risk points")] = 5000,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    out: Annotated[Path | None, typer.Option(help="write a GeoJSON/CSV file instead of loading")] = None,
) -> None:
    """Generate demo risk points in the provinces where geological hazards concentrate."""
    from geo.boundaries import Boundaries
    from geo.demo_data import generate_demo_points, write_points

    generated = generate_demo_points(points, seed=seed, boundaries=Boundaries.load())
    if out is not None:
        write_points(generated, out)
        typer.echo(f"wrote {len(generated)} risk points to {out}")
        return
    from store.db import make_engine, session_factory, session_scope
    from store.points import upsert_points

    settings = _settings()
    prepare_database(settings)
    with session_scope(session_factory(make_engine(settings.effective_database_url))) as session:
        written = upsert_points(session, generated)
    typer.echo(f"loaded {written} demo risk points")


class RasterProductName(StrEnum):
    rainfall_observed = "rainfall_observed"
    rainfall_forecast = "rainfall_forecast"
    insar_velocity = "insar_velocity"
    insar_displacement = "insar_displacement"
    susceptibility = "susceptibility"
    dem = "dem"


@rasters_app.command("publish")
def rasters_publish(
    file: Annotated[str, typer.Argument(help="path under a raster root (GEOWARN_RASTER_ROOTS) "
                                             "or an s3:// URL")],
    product: Annotated[RasterProductName, typer.Option(help="what the raster holds")],
    valid_at: Annotated[str, typer.Option(help="ISO 8601 time with a zone the values hold for, "
                                               "e.g. 2026-07-01T08:00:00Z")],
    units: Annotated[str, typer.Option(help="units of the values, e.g. mm/h, mm, m/yr, m")],
) -> None:
    """Announce a raster on the rasters topic, for the raster worker to ingest."""
    from datetime import datetime

    from geo.rasters import RasterError
    from geowarn import services

    try:
        moment = datetime.fromisoformat(valid_at)
    except ValueError:
        typer.echo(f"error: --valid-at {valid_at!r} is not an ISO 8601 time", err=True)
        raise typer.Exit(2) from None
    if moment.tzinfo is None:
        typer.echo("error: --valid-at needs a time zone, e.g. 2026-07-01T08:00:00Z", err=True)
        raise typer.Exit(2)
    settings = _connected_settings()
    prepare_topics(settings)
    try:
        topic, sent = services.publish_raster(settings, file, product=product.value,
                                              valid_at=moment, units=units)
    except (RasterError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"announced {sent['product']} {sent['location']} valid at {sent['valid_at']} "
               f"to {topic}")


class WorkerName(StrEnum):
    scorer = "scorer"
    ledger = "ledger"
    history = "history"
    raster = "raster"
    notifier = "notifier"


@app.command()
def workers(name: Annotated[WorkerName, typer.Argument(help="which worker to run")]) -> None:
    """Run one worker until SIGTERM/Ctrl-C; start more for more throughput (consumer groups)."""
    from geowarn import services

    settings = _connected_settings()
    prepare_database(settings)
    prepare_topics(settings)
    stop = _stop_event_on_signals()
    runner = {WorkerName.scorer: services.run_scorer, WorkerName.ledger: services.run_ledger,
              WorkerName.history: services.run_history,
              WorkerName.raster: services.run_raster_worker,
              WorkerName.notifier: services.run_notifier}[name]
    runner(settings, stop)
    log.info("%s stopped", name.value)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="listen address (default: settings)")] = None,
    port: Annotated[int | None, typer.Option(help="listen port (default: settings)")] = None,
) -> None:
    """Run the API (REST, WebSocket push, OpenAPI at /docs)."""
    from geowarn import services

    settings = _connected_settings()
    prepare_database(settings)
    prepare_topics(settings)
    services.run_api(settings, host or settings.api_host, port or settings.api_port)


@app.command()
def simulate(
    rate: Annotated[float, typer.Option(min=1, help="readings per wall-clock second")] = 2000,
    speed: Annotated[float, typer.Option(min=0.001, help="simulated seconds per real second")] = 60,
    backfill_hours: Annotated[float, typer.Option(min=0, help="history produced first")] = 24,
    duration: Annotated[float | None, typer.Option(help="simulated seconds to run (default: until Ctrl-C)")] = None,
    accelerating: Annotated[float, typer.Option(min=0, max=1, help="share of points accelerating towards failure")] = 0.02,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
) -> None:
    """Produce simulated readings for every registered point (event time runs `speed` times faster)."""
    from geowarn import services

    settings = _connected_settings()
    prepare_database(settings)
    prepare_topics(settings)
    stop = _stop_event_on_signals()
    try:
        summary = services.run_simulator(settings, stop, rate=rate, speed=speed,
                                         backfill_hours=backfill_hours, duration_s=duration,
                                         seed=seed, accelerating_fraction=accelerating)
    except RuntimeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(summary)


class ReplayFormat(StrEnum):
    text = "text"
    json = "json"


@app.command()
def replay(
    file: Annotated[Path, typer.Argument(help="CSV with the columns observed_at (ISO 8601 with a "
                                              "zone) and value")],
    point: Annotated[str, typer.Option(help="risk-point id (not in the registry: a temporary "
                                            "point with default thresholds)")],
    kind: Annotated[str, typer.Option(help="sensor kind, e.g. gnss, crack, tilt")] = "gnss",
    unit: Annotated[str, typer.Option(help="unit of the values, e.g. mm, cm, degrees")] = "mm",
    sensor: Annotated[str, typer.Option(help="sensor id to replay the values as")] = "REPLAY",
    output: Annotated[ReplayFormat, typer.Option("--format", help="text timeline, or one JSON "
                                                              "object per reading")] = ReplayFormat.text,
    plot: Annotated[Path | None, typer.Option(help="also draw the replay into this PNG")] = None,
    skip_invalid: Annotated[bool, typer.Option(help="skip bad rows instead of stopping")] = False,
) -> None:
    """Replay a sensor series through Kafka and the scorer in event time; print the levels."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from geowarn import services
    from streams.replay import ReplayInputError, read_series_csv, render_json_lines, render_text
    from streams.scorer_index import valid_identifier
    from streams.units import CANONICAL_UNIT, SensorKind, UnitError, unit_factor

    try:
        sensor_kind = SensorKind(kind)
        unit_factor(sensor_kind, unit)
    except (ValueError, UnitError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    for name, value in (("--point", point), ("--sensor", sensor)):
        if not valid_identifier(value):
            typer.echo(f"error: {name} {value!r}: use 1-64 of A-Z a-z 0-9 _ . : -", err=True)
            raise typer.Exit(2)
    try:
        series = read_series_csv(file, skip_invalid=skip_invalid)
    except ReplayInputError as exc:
        typer.echo(f"error: {exc}" + ("" if skip_invalid else " (or pass --skip-invalid)"),
                   err=True)
        raise typer.Exit(2) from exc
    for line, reason in series.skipped:
        typer.echo(f"skipped {file}:{line}: {reason}", err=True)
    settings = _settings()
    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=console, transient=True) as bar:
        tasks = {stage: bar.add_task(stage, total=len(series))
                 for stage in ("producing", "scoring")}
        result, temporary = services.run_replay(
            settings, series, point_id=point, sensor_id=sensor, kind=sensor_kind.value,
            unit=unit, progress=lambda stage, done, _total: bar.update(tasks[stage],
                                                                       completed=done))
    if output is ReplayFormat.json:
        typer.echo(render_json_lines(result))
    else:
        typer.echo(render_text(result, point_id=point, kind=sensor_kind.value, unit=unit,
                               temporary=temporary))
    if plot is not None:
        from streams.replay_plot import plot_replay

        canonical = CANONICAL_UNIT[sensor_kind]
        written = plot_replay(result, series, plot, title=f"{point} {sensor_kind.value} replay",
                              value_unit=unit, rate_unit=f"{canonical}/d")
        typer.echo(f"plot written to {written}", err=True)


@app.command()
def demo(
    points: Annotated[int, typer.Option(min=1, max=500_000, help="demo points if the registry is empty")] = 5000,
    rate: Annotated[float, typer.Option(min=1, help="simulated readings per second")] = 2000,
    speed: Annotated[float, typer.Option(min=0.001, help="simulated seconds per real second")] = 60,
    backfill_hours: Annotated[float, typer.Option(min=0, help="history the simulator produces first")] = 24,
) -> None:
    """Run everything: embedded broker (unless GEOWARN_KAFKA_BOOTSTRAP), simulator, scorer, ledger, API."""
    from geowarn.demo import run_demo

    status = run_demo(_settings(), points=points, rate=rate, speed=speed,
                      backfill_hours=backfill_hours, echo=typer.echo)
    raise typer.Exit(status)


if __name__ == "__main__":
    sys.exit(app())
