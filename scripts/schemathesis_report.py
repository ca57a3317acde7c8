"""Summarise a Schemathesis NDJSON event report (scripts/schemathesis.sh).

Usage: schemathesis_report.py EVENTS.ndjson [EVENTS.ndjson ...] [--require-stateful-links]

Several reports (the main run and extra stateful-only runs) are summed.
Prints, per phase, the operations tested, the test cases run and the check
results recorded (from the recorder of every scenario, each case counted
once). With --require-stateful-links, also lists the stateful transitions
that were followed through the spec's own links (`links` on createCustomer's
201, not the ones Schemathesis infers) with the statuses they got, and exits
non-zero unless each of those links was followed at least once to the
customer the 201 created: read (2xx), updated (2xx, or 412: the precondition
was evaluated against that customer, a missing one being a 404) and deleted
(2xx).
"""

from __future__ import annotations

import collections
import json
import sys


def main() -> int:
    args = sys.argv[1:]
    require_links = "--require-stateful-links" in args
    paths = [arg for arg in args if not arg.startswith("--")]
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2

    # phase -> case id -> (operation label, number of check results, failed checks)
    cases: dict[str, dict[str, tuple[str, int, int]]] = collections.defaultdict(dict)
    # explicit link id -> Counter of response statuses
    links: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    inferred: collections.Counter = collections.Counter()
    scenarios: dict[str, set[str]] = collections.defaultdict(set)
    for path in paths:
        for line in open(path, encoding="utf-8"):
            event = json.loads(line)
            kind, body = next(iter(event.items()))
            if kind != "ScenarioFinished":
                continue
            phase = body.get("phase", "?")
            recorder = body.get("recorder") or {}
            if "cases" not in recorder:
                continue
            scenarios[phase].add(body.get("id", ""))
            interactions = recorder.get("interactions") or {}
            checks = recorder.get("checks") or {}
            operation = recorder.get("label", "?")
            for case_id, node in recorder["cases"].items():
                value = node.get("value") or {}
                label = operation if phase != "stateful" else f"{value.get('method', '?')} {value.get('path', '?')}"
                results = checks.get(case_id) or []
                failed = sum(1 for result in results if result.get("status") == "failure")
                cases[phase][case_id] = (label, len(results), failed)
                transition = node.get("transition")
                if transition and node.get("is_transition_applied"):
                    status = (interactions.get(case_id) or {}).get("response", {}) or {}
                    code = status.get("status_code", "no response")
                    if transition.get("is_inferred"):
                        inferred[transition.get("id", "?")] += 1
                    else:
                        links[transition.get("id", "?")][code] += 1

    total_cases = total_checks = 0
    print(f"{'phase':<10} {'operations':>10} {'test cases':>10} {'checks':>8} {'failed':>7}")
    for phase in ("examples", "coverage", "fuzzing", "stateful"):
        entries = cases.get(phase, {})
        operations = {label for label, _, _ in entries.values()}
        checks = sum(count for _, count, _ in entries.values())
        failed = sum(bad for _, _, bad in entries.values())
        total_cases += len(entries)
        total_checks += checks
        print(f"{phase:<10} {len(operations):>10} {len(entries):>10} {checks:>8} {failed:>7}")
        if phase in ("coverage", "fuzzing"):
            per_operation = collections.Counter(label for label, _, _ in entries.values())
            for label, count in sorted(per_operation.items()):
                print(f"    {label:<45} {count:>5} test cases")
    print(f"{'total':<10} {'':>10} {total_cases:>10} {total_checks:>8}")
    print(f"stateful scenarios: {len(scenarios.get('stateful', ()))}")

    if not require_links:
        return 0
    print("stateful transitions through the spec's links (createCustomer 201 -> ...):")
    for link, statuses in sorted(links.items()):
        rendered = ", ".join(f"{code}: {count}" for code, count in sorted(statuses.items(), key=str))
        print(f"    {link}: {sum(statuses.values())} ({rendered})")
    print(f"stateful transitions Schemathesis inferred itself: {sum(inferred.values())} over {len(inferred)} link(s)")
    # What proves that a chain reached the customer the 201 created: a read or a
    # delete that succeeded; for the update, a 200 or a 412. The link passes the
    # 201's ETag as If-Match, but Schemathesis sometimes sends another value
    # (e.g. the spec's example) or the customer changed in an earlier step; a
    # 412 still proves the customer was found, since a missing one is a 404
    # (existence is checked before the precondition).
    proof = {
        "GetCustomerById": lambda code: 200 <= code < 300,
        "UpdateCustomerById": lambda code: 200 <= code < 300 or code == 412,
        "DeleteCustomerById": lambda code: 200 <= code < 300,
    }
    missing = []
    for name, proves in proof.items():
        followed = [statuses for link, statuses in links.items() if f" {name} -> " in link]
        if not any(isinstance(code, int) and proves(code) for statuses in followed for code in statuses):
            missing.append(name)
    if missing:
        print(f"FAIL: the stateful phase never followed {', '.join(missing)} to the created customer", file=sys.stderr)
        return 1
    print("stateful chains: every link of createCustomer's 201 was followed to the customer it created")
    return 0


if __name__ == "__main__":
    sys.exit(main())
