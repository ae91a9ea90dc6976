"""The `cds` command: evaluate or explain an encounter, and check the rule base.

cds evaluate [FILE|-]    the result JSON (exit 2, problem on stderr, for invalid input)
cds explain [FILE|-]     the decision and its trace as text
cds rules check          validate the rule base and list the rules per condition
cds rules diff OLD NEW CASES...   the rule-base change report: outcomes that changed, case by case
cds fhir coverage BUNDLE...       per contract field: how many patients' FHIR records filled it,
                                  left it unknown, or were ignored, and why
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from cds.fhir.coverage import coverage
from cds.fhir.resources import resources_from
from cds.problems import UNREADABLE_INPUT, VALIDATION, Problem, payload_too_large
from cds.settings import Settings, SettingsError
from cds.strict_json import decode
from cds.triage import EngineError, RuleBase, RuleBaseError, load_rulebase, triage_for
from cds.triage.changes import read_cases, report
from cds.triage.explain import render
from cds.triage.thresholds import number_cuts

EXIT_INVALID_INPUT = 2
EXIT_INVALID_RULES = 3
EXIT_ENGINE = 4


def _read(source: str, settings: Settings) -> Any:
    if source == "-":
        raw = sys.stdin.buffer.read(settings.max_body_bytes + 1)
    else:
        try:
            raw = Path(source).read_bytes()
        except OSError as err:
            raise UNREADABLE_INPUT(f"Cannot read {source}: {err.strerror}.") from None
    if len(raw) > settings.max_body_bytes:
        raise payload_too_large(settings.max_body_bytes)
    return decode(raw, settings.max_json_depth, settings.max_array_items)


def _evaluate(args: argparse.Namespace, out: TextIO) -> int:
    settings = Settings.from_env()
    try:
        rb = load_rulebase(args.rules or settings.rules_dir)
        document = _read(args.file, settings)
        if args.vignette:
            if not isinstance(document, dict) or not isinstance(document.get("encounter"), dict):
                raise VALIDATION("A vignette file holds the encounter under 'encounter'.")
            document = document["encounter"]
        result = triage_for(rb).evaluate_document(document)
    except Problem as problem:
        print(json.dumps(problem.to_dict(), indent=2, ensure_ascii=False), file=sys.stderr)
        return EXIT_INVALID_INPUT
    except RuleBaseError as err:
        print(err, file=sys.stderr)
        return EXIT_INVALID_RULES
    except EngineError as err:
        print(f"evaluation failed: {err}", file=sys.stderr)
        return EXIT_ENGINE
    if args.command == "explain":
        out.write(render(result))
    else:
        out.write(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return 0


def _rules_check(args: argparse.Namespace, out: TextIO) -> int:
    try:
        rb = load_rulebase(args.rules or Settings.from_env().rules_dir)
        engine = triage_for(rb).decider.engine
    except RuleBaseError as err:
        print(err, file=sys.stderr)
        return EXIT_INVALID_RULES
    out.write(f"rule base {rb.version} is valid (sha256 {rb.digest})\n")
    out.write(f"{len(rb.rules)} rules compiled into {engine.durable_rule_count} durable-rules rules\n\n")
    _list_rules(rb, out)
    return 0


def _list_rules(rb: RuleBase, out: TextIO) -> None:
    for file, condition in rb.files.items():
        rules = [r for r in rb.rules if r.file == file]
        if not rules and condition == "scores":
            out.write(f"{condition} ({file}): score tables\n")
            out.write(f"  {rb.news2['id']:<24} {rb.news2['title']}: {len(rb.news2['parameters'])} parameters\n")
            out.write(f"  {rb.qsofa['id']:<24} {rb.qsofa['title']}: {len(rb.qsofa['criteria'])} criteria\n")
            continue
        out.write(f"{condition} ({file}): {len(rules)} rule{'s' if len(rules) != 1 else ''}\n")
        for rule in sorted(rules, key=lambda r: r.id):
            then = ", ".join(f"{k}={v}" for k, v in rule.concluded().items())
            out.write(f"  {rule.id:<24} {rule.title}  -> {then}\n")


def _rules_diff(args: argparse.Namespace, out: TextIO) -> int:
    try:
        old, new = load_rulebase(args.old), load_rulebase(args.new)
    except RuleBaseError as err:
        print(err, file=sys.stderr)
        return EXIT_INVALID_RULES
    try:
        cases = read_cases(Path(d) for d in args.cases)
    except (OSError, ValueError) as err:
        print(f"cannot read the cases: {err}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    out.write(report(old, new, cases, args.cases))
    return 0


def _fhir_coverage(args: argparse.Namespace, out: TextIO) -> int:
    bundles = []
    for name in args.bundles:
        try:
            bundles.append(resources_from(json.loads(Path(name).read_text(encoding="utf-8"))))
        except (OSError, ValueError) as err:
            print(f"cannot read {name}: {err}", file=sys.stderr)
            return EXIT_INVALID_INPUT
    try:
        settings = Settings.from_env()
        rb = load_rulebase(settings.rules_dir)
    except SettingsError as err:
        print(f"cds: {err}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    except RuleBaseError as err:
        print(err, file=sys.stderr)
        return EXIT_INVALID_RULES
    try:
        as_of = None if args.as_of == "latest" else datetime.fromisoformat(args.as_of)
        # the windows the service reads with (CDS_FHIR_*_WINDOW_HOURS): the report says what
        # this deployment would fill, not what the defaults would
        report = coverage(
            bundles,
            as_of if as_of is None or as_of.tzinfo else as_of.replace(tzinfo=UTC),
            settings.fhir_observation_window_hours,
            settings.fhir_finding_window_hours,
            number_cuts(rb),
        )
    except ValueError as err:
        print(f"cannot date the records: {err}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    if args.json:
        out.write(json.dumps(report.as_json(), indent=2) + "\n")
    else:
        out.write(report.text(args.title))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cds", description="Back pain during an acute illness: rule-based triage.")
    parser.add_argument("--rules", help="rule base directory (default: CDS_RULES_DIR or the bundled rules)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("evaluate", "print the result JSON"), ("explain", "print the decision and its trace as text")):
        p = sub.add_parser(name, help=text)
        p.add_argument("file", nargs="?", default="-", help="encounter JSON file, or - for stdin (default)")
        p.add_argument("--vignette", action="store_true", help="the file is a test vignette: use its 'encounter'")
    rules = sub.add_parser("rules", help="rule base commands")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True)
    rules_sub.add_parser("check", help="validate the rule base and list rules per condition")
    diff = rules_sub.add_parser("diff", help="evaluate cases with two rule bases; report the outcomes that changed")
    diff.add_argument("old", help="the rule base before (a rules directory)")
    diff.add_argument("new", help="the rule base after (a rules directory)")
    diff.add_argument("cases", nargs="+", help="directories of cases (vignette or encounter JSON files)")
    fhir = sub.add_parser("fhir", help="FHIR data commands")
    fhir_sub = fhir.add_subparsers(dest="fhir_command", required=True)
    cov = fhir_sub.add_parser("coverage", help="per contract field: filled, unknown, ignored and why")
    cov.add_argument("bundles", nargs="+", help="FHIR R4 JSON files, one patient's resources (a Bundle) each")
    cov.add_argument(
        "--as-of", default="latest", help="evaluate at this ISO date-time, or 'latest': each patient's newest record"
    )
    cov.add_argument("--title", default="FHIR data coverage", help="the report's heading")
    cov.add_argument("--json", action="store_true", help="JSON instead of a Markdown table")
    return parser


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = out or sys.stdout
    try:
        if args.command == "rules":
            return _rules_diff(args, out) if args.rules_command == "diff" else _rules_check(args, out)
        if args.command == "fhir":
            return _fhir_coverage(args, out)
        return _evaluate(args, out)
    except BrokenPipeError:  # e.g. `cds rules check | head`: the reader left, nothing is wrong
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
