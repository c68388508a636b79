"""Status-callback webhook throughput and latency on gunicorn + PostgreSQL vs a bare view.

    .venv/bin/python bench/bench_status_webhook.py [--seconds 8] [--rounds 3] [--connections 50]

Targets (issue 4): at least 0.5 of the bare view's throughput, p99 under 50 ms.
"""

import argparse
import sys
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import webhook_harness as harness


def seed(count):
    from conversations.models import Conversation, Message, MessageStatus
    from conversations.services.sending import status_callback_url

    conversation = Conversation.objects.create(phone_number="+919876543210")
    messages = Message.objects.bulk_create(
        Message(
            conversation=conversation,
            direction="outbound",
            body="Your OTP is 123456.",
            status=MessageStatus.QUEUED,
            sid=f"bench-sid-{i:06d}",
        )
        for i in range(count)
    )
    pairs = []
    for message in messages:
        url = status_callback_url(message)
        path = url[url.index("/webhook/") :]
        body = urlencode(
            {
                "SmsSid": message.sid,
                "To": "09876543210",
                "Status": "sent",
                "DetailedStatus": "DELIVERED_TO_HANDSET",
                "DetailedStatusCode": "20005",
                "SmsUnits": "1",
                "DateSent": "2026-01-15 14:15:02",
            }
        )
        pairs.append((path, body))
    return pairs


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=8, help="per run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--messages", type=int, default=2000)
    harness.add_server_arguments(parser)
    harness.add_round_arguments(parser)
    harness.add_load_run_arguments(parser)
    args = parser.parse_args()

    harness.prepare_environment()
    callbacks = seed(args.messages)
    bare = [("/bench/bare", body) for _, body in callbacks[:100]]
    server = (args.workers, args.threads, args.worker_class)
    with harness.gunicorn(*server) as base_url:
        for requests_ in (bare, callbacks):
            harness.warm_up(
                lambda s, r=requests_: harness.run_wrk(base_url, r, args.connections, s)
            )
        ours, baseline, ratio, rounds = harness.alternate(
            lambda _: harness.run_wrk(base_url, callbacks, args.connections, args.seconds),
            lambda _: harness.run_wrk(base_url, bare, args.connections, args.seconds),
            args.rounds,
        )
        load = None
        if args.load_run:
            load = harness.load_run_figures(
                harness.run_wrk(base_url, callbacks, args.load_connections, args.load_seconds)
            )
    extra = [(f"  load run, {args.load_connections} clients", load)] if load else []
    harness.print_rounds(rounds)
    ratio = harness.report("POST /webhook/sms-status", ours, baseline, extra, ratio)
    stored = harness.stored_events()
    print(f"events stored: {stored} (every 200 answered is one event)")
    harness.print_result(
        "status_webhook",
        harness.result(args, ours, baseline, ratio, load, events_stored=stored),
    )


if __name__ == "__main__":
    main()
