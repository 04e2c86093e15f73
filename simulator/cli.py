"""`cwatch simulate` (and `python -m simulator`): run a scenario, record, replay, import CSV, load-test, score.

cwatch simulate run --scenario week --out week.jsonl --truth truth.jsonl
cwatch simulate run --scenario demo --publish --host 127.0.0.1 --port 1883 --speed 1 --start now
cwatch simulate record --port 1883 --out live.jsonl --duration 600
cwatch simulate replay live.jsonl --port 1883 --speed 10
cwatch simulate import-csv meters.csv --out meters.jsonl
cwatch simulate load --devices 5000 --rate 2000 --duration 60 --connections 8
cwatch simulate score --truth truth.jsonl --alerts alerts.jsonl --report docs/simulator-scoring.md
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import datetime

from core.cliwords import argparse_in
from core.i18n import env_lang, render
from simulator.errors import SimulatorError
from simulator.message import CST, SimMessage


def _speed(text: str) -> float | None:
    """ "max"/"afap" = as fast as possible; "realtime" = 1; otherwise a positive factor."""
    t = text.strip().lower()
    if t in ("max", "afap", "fast", "0", "none"):
        return None
    if t in ("realtime", "real", "1x"):
        return 1.0
    v = float(t.rstrip("x"))
    if v <= 0:
        raise argparse.ArgumentTypeError("speed must be positive, 'realtime' or 'max'")
    return v


def _start(text: str) -> datetime:
    """ "now" (for a demo) or an ISO 8601 / RFC 3339 time; without an offset it is China Standard Time."""
    if text.strip().lower() == "now":
        return datetime.now(CST).replace(microsecond=0)
    try:
        start = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"start must be a time like 2026-05-01T08:00:00+08:00 or 'now', got {text!r}"
        ) from None
    return start if start.tzinfo else start.replace(tzinfo=CST)


def _h(key: str) -> str:
    """An option's help in the CLI's language (`core/messages/cli.toml`, `help.*`), as `cwatch --help` has it."""
    return render(f"cli.help.{key}", env_lang())


def _mqtt_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("MQTT")
    g.add_argument("--host", default="127.0.0.1", help=_h("sim_mqtt_host"))
    g.add_argument("--port", type=int, default=1883, help=_h("sim_mqtt_port"))
    g.add_argument("--username", help=_h("sim_mqtt_username"))
    g.add_argument("--password", help=_h("sim_mqtt_password"))
    g.add_argument("--qos", type=int, choices=(0, 1), default=1, help=_h("sim_mqtt_qos"))
    g.add_argument("--connections", type=int, default=1, help=_h("sim_connections"))
    g.add_argument("--client-id", default="cwatch-sim", help=_h("sim_client_id"))
    g.add_argument("--mqtt-version", choices=("5", "3.1.1"), default="5", help=_h("sim_mqtt_version"))


def _progress_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-progress", action="store_true", help=_h("sim_no_progress"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's sub-commands to `parser` (the `simulate` sub-command of `cwatch`)."""
    sub = parser.add_subparsers(dest="sim_command", metavar=_h("sim_action"))

    run = sub.add_parser("run", help=_h("sim_run"))
    run.add_argument("--scenario", default="smoke-test", help=_h("sim_scenario"))
    run.add_argument("--seed", type=int, help=_h("sim_seed"))
    run.add_argument("--start", type=_start, help=_h("sim_start"))
    run.add_argument("--speed", help=_h("sim_speed"))
    run.add_argument("--out", help=_h("sim_out"))
    run.add_argument("--truth", help=_h("sim_truth"))
    run.add_argument("--publish", action="store_true", help=_h("sim_publish"))
    run.add_argument("--limit", type=int, help=_h("sim_limit"))
    _mqtt_options(run)
    _progress_option(run)

    rec = sub.add_parser("record", help=_h("sim_record"))
    rec.add_argument("--out", required=True, help=_h("sim_record_out"))
    rec.add_argument("--topic", default="cw/#", help=_h("sim_topic"))
    rec.add_argument("--duration", type=float, help=_h("sim_duration"))
    rec.add_argument("--count", type=int, help=_h("sim_count"))
    _mqtt_options(rec)

    rep = sub.add_parser("replay", help=_h("sim_replay"))
    rep.add_argument("recording", help=_h("sim_recording"))
    rep.add_argument("--speed", type=_speed, default=None, help=_h("sim_replay_speed"))
    _mqtt_options(rep)
    _progress_option(rep)

    imp = sub.add_parser("import-csv", help=_h("sim_import"))
    imp.add_argument("csv", help=_h("sim_csv"))
    imp.add_argument("--out", help=_h("sim_import_out"))
    imp.add_argument("--community", help=_h("sim_community"))
    imp.add_argument("--channel", default="telemetry", help=_h("sim_channel"))

    load = sub.add_parser("load", help=_h("sim_load"))
    load.add_argument("--devices", type=int, default=1000, help=_h("sim_devices"))
    load.add_argument("--rate", type=float, default=1000.0, help=_h("sim_rate"))
    load.add_argument("--duration", type=float, default=10.0, help=_h("sim_load_duration"))
    load.add_argument("--json", action="store_true", help=_h("sim_json"))
    _mqtt_options(load)
    _progress_option(load)

    sc = sub.add_parser("score", help=_h("sim_score"))
    sc.add_argument("--truth", required=True, help=_h("sim_truth_in"))
    sc.add_argument("--alerts", required=True, help=_h("sim_alerts_in"))
    sc.add_argument("--report", help=_h("sim_report"))
    sc.add_argument("--household-months", type=float, default=0.0, help=_h("sim_household_months"))

    ev = sub.add_parser("evaluate", help=_h("sim_evaluate"))
    ev.add_argument("--scenario", default="smoke-test", help=_h("sim_scenario"))
    ev.add_argument("--seed", type=int, help=_h("sim_seed"))
    ev.add_argument("--rules", help=_h("sim_rules"))
    ev.add_argument("--truth", help=_h("sim_truth_out"))
    ev.add_argument("--alerts", help=_h("sim_alerts_out"))
    ev.add_argument("--report", help=_h("sim_report"))
    _progress_option(ev)

    sub.add_parser("scenarios", help=_h("sim_scenarios"))


def run(args: argparse.Namespace) -> int:
    """Run the chosen action; returns the process exit code (errors are printed, not raised)."""
    cmd = getattr(args, "sim_command", None) or "run"
    if not hasattr(args, "scenario") and cmd == "run":
        defaults = argparse.ArgumentParser()
        add_arguments(defaults)
        for k, v in vars(defaults.parse_args(["run"])).items():
            if not hasattr(args, k):
                setattr(args, k, v)
    try:
        if cmd == "run":
            return _run(args)
        if cmd == "record":
            return _record(args)
        if cmd == "replay":
            return _replay(args)
        if cmd == "import-csv":
            return _import_csv(args)
        if cmd == "load":
            return _load(args)
        if cmd == "score":
            return _score(args)
        if cmd == "evaluate":
            return _evaluate(args)
        if cmd == "scenarios":
            from simulator.scenario import SCENARIO_DIR

            for p in sorted(SCENARIO_DIR.glob("*.yaml")):
                print(p.stem)
            return 0
    except SimulatorError as e:
        print(f"cwatch simulate: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    print(f"cwatch simulate: unknown action {cmd!r}", file=sys.stderr)
    return 2


def _progress(total: int | None, args: argparse.Namespace, unit: str = "msg", *, disable: bool = False) -> object:
    from tqdm import tqdm

    disable = disable or bool(getattr(args, "no_progress", False)) or not sys.stderr.isatty()
    return tqdm(total=total, unit=unit, disable=disable, mininterval=0.5, smoothing=0.1)


def _by_simulated_time(
    messages: Iterable[SimMessage], t0: float, t1: float, args: argparse.Namespace
) -> Iterator[SimMessage]:
    """Pass `messages` through while a bar on a terminal shows the simulated hours done of the scenario's, the
    time left and the messages so far (how many there will be is known only at the end)."""
    from tqdm import tqdm

    disable = bool(getattr(args, "no_progress", False)) or not sys.stderr.isatty()
    total = max((t1 - t0) / 3600, 0.01)
    lang = env_lang()
    hours = render("cli.sim.simulated_h", lang)
    fmt = "{l_bar}{bar}| {n:.1f}/{total:.1f} " + hours + " [{elapsed}<{remaining}]{postfix}"
    with tqdm(total=total, disable=disable, mininterval=0.5, smoothing=0.1, bar_format=fmt) as bar:
        for n, m in enumerate(messages, 1):
            done = min(total, max(0.0, (m.ts - t0) / 3600))
            if done > bar.n:
                bar.update(done - bar.n)
                bar.set_postfix_str(render("cli.sim.messages_so_far", lang, {"n": n}), refresh=False)
            yield m


def _publisher(args: argparse.Namespace) -> object:
    from paho.mqtt.enums import MQTTProtocolVersion

    from simulator.publisher import Publisher

    return Publisher(
        args.host,
        args.port,
        connections=args.connections,
        qos=args.qos,
        client_id=args.client_id,
        username=args.username,
        password=args.password,
        protocol=MQTTProtocolVersion.MQTTv311 if args.mqtt_version == "3.1.1" else MQTTProtocolVersion.MQTTv5,
    )


def _device_key(topic: str) -> str:
    parts = topic.split("/")
    return parts[2] if len(parts) > 2 else topic


async def _publish_paced(
    messages: Iterable[SimMessage],
    start: float,
    speed: float | None,
    args: argparse.Namespace,
    total: int | None = None,
) -> int:
    from simulator.clock import make_clock, paced
    from simulator.publisher import Publisher

    pub = _publisher(args)
    assert isinstance(pub, Publisher)
    bar = _progress(total, args, disable=total is None)
    n = 0
    with pub:
        async for m in paced(messages, make_clock(start, speed)):
            pub.publish(m.topic, m.payload, key=_device_key(m.topic))
            n += 1
            bar.update(1)  # type: ignore[attr-defined]
        ok = pub.flush()
        st = pub.stats()
    bar.close()  # type: ignore[attr-defined]
    values = {
        "published": st.published,
        "acknowledged": st.acknowledged,
        "refused": st.refused,
        "connections": st.connections,
        "seconds": f"{st.seconds:.1f}",
        "rate": f"{st.rate:.0f}",
    }
    print(render("cli.sim.published", env_lang(), values), file=sys.stderr)
    return 0 if ok and st.refused == 0 else 1


def _limit(messages: Iterator[SimMessage], limit: int | None) -> Iterator[SimMessage]:
    for i, m in enumerate(messages):
        if limit is not None and i >= limit:
            return
        yield m


def _run(args: argparse.Namespace) -> int:
    from simulator.generate import Simulation
    from simulator.groundtruth import write_truth
    from simulator.recording import to_line
    from simulator.scenario import load_scenario
    from simulator.street import registry_for

    scenario = load_scenario(args.scenario)
    if args.start:
        scenario = scenario.model_copy(update={"start": args.start})
    sim = Simulation(registry_for(scenario), scenario, args.seed)
    messages = _by_simulated_time(_limit(sim.messages(), args.limit), scenario.t0, scenario.t1, args)
    out = open(args.out, "w", encoding="utf-8") if args.out else None  # noqa: SIM115 - closed below
    try:
        if out is not None:
            messages = _tee(messages, out, to_line)
        if args.publish:
            speed = _speed(args.speed) if args.speed is not None else scenario.speed
            code = asyncio.run(_publish_paced(messages, scenario.t0, speed, args))
        else:
            t0 = time.monotonic()
            n = sum(1 for _ in messages)
            seconds = f"{time.monotonic() - t0:.1f}"
            print(render("cli.sim.generated", env_lang(), {"n": n, "seconds": seconds}), file=sys.stderr)
            code = 0
    finally:
        if out is not None:
            out.close()
    if args.truth:
        write_truth(sim.ground_truth(), args.truth)
    return code


def _tee(messages: Iterator[SimMessage], out: object, fmt: object) -> Iterator[SimMessage]:
    for m in messages:
        out.write(fmt(m) + "\n")  # type: ignore[attr-defined, operator]
        yield m


def _record(args: argparse.Namespace) -> int:
    from simulator.record import record

    n = record(
        args.out,
        host=args.host,
        port=args.port,
        topic=args.topic,
        duration=args.duration,
        count=args.count,
        username=args.username,
        password=args.password,
        client_id=args.client_id + "-rec",
    )
    print(render("cli.sim.recorded", env_lang(), {"n": n, "out": args.out}), file=sys.stderr)
    return 0


def _replay(args: argparse.Namespace) -> int:
    from simulator.recording import read_jsonl

    messages = list(read_jsonl(args.recording))
    if not messages:
        return 0
    return asyncio.run(_publish_paced(iter(messages), messages[0].ts, args.speed, args, total=len(messages)))


def _import_csv(args: argparse.Namespace) -> int:
    from simulator.csvimport import import_csv
    from simulator.recording import write_jsonl

    messages = import_csv(args.csv, community=args.community, channel=args.channel)
    n = write_jsonl(messages, args.out) if args.out else write_jsonl(messages, sys.stdout)
    print(render("cli.sim.imported", env_lang(), {"n": n}), file=sys.stderr)
    return 0


def _load(args: argparse.Namespace) -> int:
    from simulator.load import run_load

    result = run_load(
        devices=args.devices,
        rate=args.rate,
        duration=args.duration,
        host=args.host,
        port=args.port,
        connections=args.connections,
        qos=args.qos,
        client_id=args.client_id,
        username=args.username,
        password=args.password,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    print(json.dumps(result.to_json()) if args.json else result.summary())
    return 0 if result.acknowledged == result.published else 1


def _score(args: argparse.Namespace) -> int:
    from simulator.groundtruth import read_truth
    from simulator.score import read_alerts, score, to_markdown

    report = score(read_truth(args.truth), read_alerts(args.alerts), watched_household_months=args.household_months)
    md = to_markdown(report)
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            f.write(md)
    else:
        print(md)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from simulator.generate import Simulation
    from simulator.groundtruth import write_truth
    from simulator.judge import alert_json, judge
    from simulator.scenario import load_scenario
    from simulator.score import score, to_markdown
    from simulator.street import registry_for

    scenario = load_scenario(args.scenario)
    registry = registry_for(scenario)
    sim = Simulation(registry, scenario, args.seed)
    bar = _progress(None, args)
    t0 = time.monotonic()
    result = judge(sim.messages(), registry, rules_path=args.rules, end=sim.end, progress=bar)
    bar.close()  # type: ignore[attr-defined]
    seconds = time.monotonic() - t0
    truth = sim.ground_truth()
    if args.truth:
        write_truth(truth, args.truth)
    if args.alerts:
        with open(args.alerts, "w", encoding="utf-8") as f:
            for a in result.alerts:
                f.write(json.dumps(alert_json(a), ensure_ascii=False, separators=(",", ":")) + "\n")
    report = score(truth, result.alerts, watched_household_months=sim.watched_household_months())
    notes = [
        f"Scenario `{scenario.name}` (seed {sim.seed}): {scenario.description}",
        "",
        f"- {result.messages} messages, {result.readings} readings, refused {sum(result.refused.values())}; "
        f"{len(sim.incidents)} injected incidents of {len({i.kind for i in sim.incidents})} kinds; "
        f"generated and judged in-process in {seconds:.0f} s.",
    ]
    md = to_markdown(report, title=f"Scoring: {scenario.name}", notes=notes)
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            f.write(md)
    else:
        print(md)
    return 0


def main(argv: list[str] | None = None) -> int:
    with argparse_in(env_lang()):
        parser = argparse.ArgumentParser(
            prog="python -m simulator", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        add_arguments(parser)
        args = parser.parse_args(argv)
    return run(args)
