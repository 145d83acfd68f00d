"""twistd plugin modules for ``vanet-rsu`` and ``vanet-obu``.

``twisted/plugins/vanet_nodes.py`` points twistd here; ``ServiceMaker``
imports this module lazily. Every config key is also a command-line option
(``--routing-hello-history 5``) that overrides the file.
"""

from __future__ import annotations

import sys

from twisted.logger import globalLogPublisher, jsonFileLogObserver
from twisted.python import usage

from vanet.crypto import KeyFileError
from vanet.discovery import UnknownStrategyError
from vanet.identity import IdentityFileError, TrustFileError
from vanet.node.config import (
    ConfigError,
    load_node_config,
    option_parameters,
    overrides_from_options,
)
from vanet.node.factory import NodeFactory
from vanet.node.service import DeviceError, NodeService, check_runnable

# Which [security] key names the file each loader complains about.
_SECURITY_FILE_KEYS = {
    KeyFileError: "key_file",
    IdentityFileError: "identity",
    TrustFileError: "trust",
}


def _options_for(role: str) -> type[usage.Options]:
    class Options(usage.Options):
        synopsis = f"--config FILE [options]   (vanet-{role})"
        longdesc = (
            f"Run a vanet {role.upper()} node. Settings come from the INI file "
            "given with --config; each option below overrides the key of the "
            "same name ([section] key -> --section-key)."
        )
        optParameters = [
            ["config", "c", None, "The node's INI file (required)."],
            [
                "json-log",
                None,
                None,
                "Also write structured JSON log events to FILE ('-' for stdout).",
            ],
            *option_parameters(),
        ]

        def postOptions(self) -> None:
            if not self["config"]:
                raise usage.UsageError("--config FILE is required")
            # One clear line naming file, section and key, and a non-zero
            # exit, not twistd's usage dump or a traceback.
            try:
                config = load_node_config(
                    self["config"], role, overrides_from_options(self)
                )
                check_runnable(config)
            except (ConfigError, DeviceError) as error:
                raise SystemExit(f"vanet-{role}: {error}") from None
            try:
                self.factory = NodeFactory(config)
            except UnknownStrategyError as error:
                raise SystemExit(
                    f"vanet-{role}: {config.source}: [routing] strategy = "
                    f"{config.routing.strategy!r}: {error}"
                ) from None
            except (KeyFileError, IdentityFileError, TrustFileError) as error:
                key = _SECURITY_FILE_KEYS[type(error)]
                raise SystemExit(
                    f"vanet-{role}: {config.source}: [security] {key} = "
                    f"{getattr(config.security, key)}: {error}"
                ) from None

    Options.__name__ = f"{role.capitalize()}Options"
    return Options


class _TwistdNodeService(NodeService):
    """A node under twistd: a device that cannot be opened ends the process
    with one line on stderr and exit status 1, not a traceback."""

    def _exit_on_device_error(self, start) -> None:
        try:
            start()
        except DeviceError as error:
            raise SystemExit(f"vanet-{self.config.role}: {error}") from None

    def privilegedStartService(self) -> None:
        self._exit_on_device_error(super().privilegedStartService)

    def startService(self) -> None:
        self._exit_on_device_error(super().startService)


def _make_service(options) -> NodeService:
    node = _TwistdNodeService(options.factory, announce=True, reload_on_sighup=True)
    json_log = options["json-log"]
    node.json_log_observer = None
    if json_log:
        # One JSON object per line, with every structured field of the
        # event (route decisions carry node, event, target, next hop, ...).
        stream = (
            sys.stdout if json_log == "-" else open(json_log, "a", encoding="utf-8")
        )  # noqa: SIM115
        node.json_log_observer = jsonFileLogObserver(stream, recordSeparator="")
        globalLogPublisher.addObserver(node.json_log_observer)
    return node


class rsu:  # noqa: N801 - ServiceMaker wants a module-like object with these names
    Options = _options_for("rsu")
    makeService = staticmethod(_make_service)


class obu:  # noqa: N801
    Options = _options_for("obu")
    makeService = staticmethod(_make_service)
