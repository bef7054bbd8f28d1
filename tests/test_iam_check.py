"""The judging behind `make iam-check`, on made-up answers and results."""

from __future__ import annotations

import logging

from bench import iam_check


def test_a_denial_is_seen_in_log_records_and_log_lines_and_taken_once():
    denials = iam_check.Denials()
    denials.emit(
        logging.LogRecord("localcloud", logging.ERROR, __file__, 1, "could not ship logs", None, None)
    )
    denials.note('{"level":"INFO","message":"notification posted to Slack"}')
    assert denials.take() == []
    denials.note("An error occurred (AccessDeniedException) when calling the PutItem operation")
    denials.emit(
        logging.LogRecord(
            "localcloud", logging.ERROR, __file__, 1, "%s is not authorized to perform: x", ("role",), None
        )
    )
    assert len(denials.take()) == 2
    assert denials.take() == []


def test_a_slack_reply_that_could_not_read_or_write_a_region_fails_the_flow():
    good = b'{"text":"*Chaos status*\\n\\u2022 `us-east-1`: ok, error rate 0%"}'
    assert iam_check._slack_reply_complete({}, good) is None
    for bad in (
        b"`us-west-2`: unknown (AccessDeniedException)",
        b"Could not list the deployed regions",
        b"Nothing changed: x",
    ):
        assert iam_check._slack_reply_complete({}, bad) is not None


def test_the_page_must_be_allowed_to_call_every_region():
    state = {
        "regions": {
            "us-east-1": {"api": "http://127.0.0.1:4701/"},
            "us-west-2": {"api": "http://127.0.0.1:4711/"},
        }
    }
    check = iam_check._page_allows_every_region(state)
    both = {"content-security-policy": "connect-src 'self' http://127.0.0.1:4701 http://127.0.0.1:4711"}
    assert check(both, b"") is None
    assert "us-west-2" in (
        check({"content-security-policy": "connect-src 'self' http://127.0.0.1:4701"}, b"") or ""
    )


def test_the_report_gives_the_score_and_marks_a_statement_no_flow_needs():
    outcomes = [
        iam_check.Outcome("writer", "dynamodb:PutItem", True, "its event: denied: AccessDeniedException"),
        iam_check.Outcome("web", "s3:ListBucket", False, "every flow passed"),
        iam_check.Outcome("web", "Tracing", False, "", "X-Ray is not emulated"),
    ]
    result = {
        "baseline": {},
        "outcomes": [o.__dict__ for o in outcomes],
        "statements": 3,
        "mutated": 2,
        "killed": 1,
        "score": 50.0,
    }
    text = iam_check.report(result, 12.0)
    assert "**Mutation score: 50.0%** (1 of 2 statements needed; 1 listed exceptions)" in text
    assert "| web | s3:ListBucket | **no** | every flow passed |" in text
    assert "| web | Tracing | exception | X-Ray is not emulated |" in text
