"""
The rehearsal's AWS emulator: moto's own server (`python3 -m moto.server -p PORT`), started after
two patches that the rehearsal needs and moto 5.2.1 does not offer. Each patch checks that the
code it replaces is still the code it was written against, so a moto upgrade that changes it
fails here, loudly, instead of silently behaving differently.

    python3 scripts/rehearsal/moto_server.py -p PORT    # as `python3 -m moto.server -p PORT`
    python3 scripts/rehearsal/moto_server.py --version  # prints moto's version and exits

Exit status 3 when moto is missing or not the pinned version (the rehearsal prints how to get it).
"""

import functools
import inspect
import sys

MOTO_VERSION = "5.2.1"


def moto_version():
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("moto")
    except PackageNotFoundError:
        return None


def require(condition, workaround, why):
    if not condition:
        sys.stderr.write(
            f"moto_server.py: the workaround '{workaround}' no longer applies to moto "
            f"{moto_version()}: {why}. Review it against this moto (and drop it if moto now "
            "does this itself).\n"
        )
        sys.exit(4)


def cache_jsonpath_parser():
    """
    Workaround 'jsonpath parser cache'. moto renders every event it delivers to a rule target
    through EventTemplateParser.parse, which calls jsonpath_ng.ext.parse for each of the nine
    paths of its default input template, and jsonpath-ng builds a new PLY parser (grammar tables
    included) on every call: about 0.3 s per delivered event, so one poll's 200 change events
    took over a minute. Parsed paths are immutable, so caching them by text changes nothing but
    the time.
    """
    import jsonpath_ng.ext
    from moto.events import utils as events_utils

    source = inspect.getsource(events_utils.EventTemplateParser.parse)
    require(
        "from jsonpath_ng.ext import parse" in source,
        "jsonpath parser cache",
        "EventTemplateParser.parse no longer imports jsonpath_ng.ext.parse at call time",
    )
    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=256)(jsonpath_ng.ext.parse)


def no_sqs_to_lambda_delivery():
    """
    Workaround 'no SQS-to-Lambda delivery'. A queue with a Lambda event source mapping makes
    moto receive each new message at once and invoke the function itself: in Docker (absent
    here) or, without Docker, as a no-op that reports success, after which moto deletes the
    message. Either way the message would never reach the rehearsal, which stands in for the
    event source and runs the real bundle. Queues here keep their mappings' records (moto still
    lists the mappings) but never act on them.
    """
    from moto.sqs import models as sqs_models

    add_message = inspect.getsource(sqs_models.Queue.add_message)
    require(
        "self.lambda_event_source_mappings.items()" in add_message,
        "no SQS-to-Lambda delivery",
        "Queue.add_message no longer delivers through self.lambda_event_source_mappings",
    )

    class NoDelivery(dict):
        """Accepts a mapping and forgets it: add_message then finds none to deliver to."""

        def __setitem__(self, key, value):
            pass

    original_init = sqs_models.Queue.__init__

    @functools.wraps(original_init)
    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        require(
            isinstance(getattr(self, "lambda_event_source_mappings", None), dict),
            "no SQS-to-Lambda delivery",
            "Queue no longer keeps lambda_event_source_mappings",
        )
        self.lambda_event_source_mappings = NoDelivery()

    sqs_models.Queue.__init__ = init


def main(argv):
    version = moto_version()
    if "--version" in argv:
        print(version or "missing")
        return
    if version != MOTO_VERSION:
        sys.stderr.write(
            f"moto_server.py: needs moto {MOTO_VERSION} with its server, found {version or 'none'}\n"
        )
        sys.exit(3)
    try:
        from moto.server import main as serve
    except ImportError as error:
        sys.stderr.write(f"moto_server.py: moto's server is not installed ({error})\n")
        sys.exit(3)
    cache_jsonpath_parser()
    no_sqs_to_lambda_delivery()

    serve(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
