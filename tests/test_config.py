"""The node configuration: values, defaults, and one test per kind of error.

Every error must be one line naming the file, the section, the key and
what is allowed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import textwrap

from twisted.trial.unittest import SynchronousTestCase

from vanet.mac import stable_local_mac
from vanet.node.config import (
    SCHEMA,
    ConfigError,
    describe_schema,
    load_node_config,
    node_config_from_mapping,
    option_parameters,
    overrides_from_options,
)

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(os.path.dirname(HERE), "examples")

MINIMAL = """
[node]
name = rsu1
[link]
interface = eth0
"""


class ConfigFileCase(SynchronousTestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="vanet-config-")
        self.addCleanup(shutil.rmtree, self.dir)

    def write(self, text: str, name: str = "rsu.ini") -> str:
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(textwrap.dedent(text))
        return path

    def error(self, text: str, role: str = "rsu", overrides=None) -> str:
        path = self.write(text)
        with self.assertRaises(ConfigError) as caught:
            load_node_config(path, role, overrides or {})
        message = str(caught.exception)
        self.assertNotIn("\n", message)
        return message

    def assertNames(self, message: str, *parts: str) -> None:
        for part in parts:
            self.assertIn(part, message)


class ValidConfigTests(ConfigFileCase):
    def test_example_files_load(self):
        rsu = load_node_config(os.path.join(EXAMPLES, "rsu.ini"), "rsu")
        obu = load_node_config(os.path.join(EXAMPLES, "obu.ini"), "obu")
        self.assertEqual((rsu.role, obu.role), ("rsu", "obu"))
        self.assertEqual((rsu.link.transport, rsu.link.interface), ("packet", "eth0"))
        self.assertEqual(obu.link.transport, "packet")
        self.assertNotEqual(rsu.node.name, obu.node.name)
        self.assertNotEqual(rsu.tap.address, obu.tap.address)

    def test_defaults(self):
        config = load_node_config(self.write(MINIMAL), "rsu")
        self.assertEqual(config.node.name, "rsu1")
        self.assertIsNone(config.node.mac)  # packet: the interface's MAC
        self.assertEqual(
            (config.link.transport, config.link.group, config.link.port),
            ("packet", "239.255.48.48", 12336),
        )
        self.assertEqual(
            (config.tap.name, config.tap.address, config.tap.mtu), ("vtap0", None, 1436)
        )
        routing = config.routing
        self.assertEqual(
            (
                routing.strategy,
                routing.hello_history,
                routing.cached_candidates,
                routing.hello_period_ms,
                routing.neighbour_timeout,
                routing.max_hops,
                routing.relay_scope,
            ),
            ("latency", 10, 3, 5000, 2, 0, None),
        )
        self.assertEqual(
            (config.security.encryption, config.security.key_file), (False, None)
        )
        self.assertEqual(config.control.listen, "tcp:7070:interface=127.0.0.1")

    def test_every_value_parsed(self):
        config = load_node_config(
            self.write(
                """
                [node]
                name = obu7
                mac = 02-00-00-00-00-07
                [link]
                transport = UDP
                interface = veth7
                group = 239.1.2.3
                port = 4000
                [tap]
                name = tap7
                address = 10.1.0.7/16   ; comment after a value
                mtu = 9000
                [routing]
                strategy = hops
                hello_history = 4
                cached_candidates = 1
                hello_period_ms = 100
                neighbour_timeout = 3
                max_hops = 8
                relay_scope = 2
                [security]
                encryption = yes
                key_file = /etc/vanet/key
                [control]
                listen = none
                """
            ),
            "obu",
        )
        self.assertEqual(config.node.mac, bytes.fromhex("020000000007"))
        self.assertEqual(
            (config.link.transport, config.link.group, config.link.port),
            ("udp", "239.1.2.3", 4000),
        )
        self.assertEqual(
            (config.tap.name, config.tap.address, config.tap.mtu),
            ("tap7", "10.1.0.7/16", 9000),
        )
        self.assertEqual(config.routing.strategy, "hops")  # checked by the caller
        self.assertEqual(config.routing.hello_period_ms, 100)
        self.assertEqual(config.routing.max_hops, 8)
        self.assertEqual(config.routing.relay_scope, 2)
        self.assertEqual(
            (config.security.encryption, config.security.key_file),
            (True, "/etc/vanet/key"),
        )
        self.assertIsNone(config.control.listen)

    def test_booleans(self):
        for text, value in (
            ("yes", True),
            ("true", True),
            ("1", True),
            ("No", False),
            ("false", False),
            ("0", False),
        ):
            path = self.write(
                MINIMAL + f"[security]\nencryption = {text}\nkey_file = k\n"
            )
            self.assertEqual(
                load_node_config(path, "rsu").security.encryption, value, text
            )

    def test_mac_defaults_per_transport(self):
        udp = load_node_config(self.write(MINIMAL + "transport = udp\n"), "obu")
        self.assertEqual(udp.node.mac, stable_local_mac("rsu1"))
        memory = node_config_from_mapping(
            {"node": {"name": "n1"}, "link": {"transport": "memory"}}, "sim.yaml", "obu"
        )
        self.assertEqual(memory.node.mac, stable_local_mac("n1"))
        self.assertIsNone(memory.link.interface)  # not needed in memory

    def test_empty_optional_value_means_unset(self):
        config = load_node_config(self.write(MINIMAL + "[tap]\naddress =\n"), "rsu")
        self.assertIsNone(config.tap.address)

    def test_relative_key_file_is_taken_from_the_config_folder(self):
        path = self.write(
            MINIMAL + "[security]\nencryption = on\nkey_file = vanet.key\n"
        )
        self.assertEqual(
            load_node_config(path, "rsu").security.key_file,
            os.path.join(self.dir, "vanet.key"),
        )

    def test_overrides_win_over_the_file(self):
        path = self.write(MINIMAL + "[routing]\nhello_history = 5\n")
        config = load_node_config(
            path, "rsu", {("routing", "hello_history"): "7", ("tap", "mtu"): "1500"}
        )
        self.assertEqual((config.routing.hello_history, config.tap.mtu), (7, 1500))

    def test_config_is_frozen(self):
        config = load_node_config(self.write(MINIMAL), "rsu")
        with self.assertRaises(AttributeError):
            config.routing.hello_history = 3

    def test_mapping_nested_and_flat(self):
        nested = node_config_from_mapping(
            {
                "node": {"name": "n2"},
                "link": {"transport": "memory"},
                "routing": {"hello_history": 4},
            },
            "topology.yaml",
            "obu",
        )
        flat = node_config_from_mapping(
            {
                "node.name": "n2",
                "link.transport": "memory",
                "routing.hello_history": 4,
                "security.encryption": False,
            },
            "topology.yaml",
            "obu",
        )
        self.assertEqual(nested, flat)
        self.assertEqual(flat.routing.hello_history, 4)
        self.assertEqual(flat.source, "topology.yaml")

    def test_unknown_role(self):
        self.assertRaises(ValueError, load_node_config, self.write(MINIMAL), "car")

    def test_schema_documents_every_key(self):
        for section, settings in SCHEMA.items():
            for key, setting in settings.items():
                self.assertTrue(setting.help.strip(), f"{section}.{key}")
        rows = {
            (section, key): (default, help)
            for section, key, default, help in describe_schema()
        }
        self.assertEqual(rows["routing", "hello_history"][0], "10")
        self.assertEqual(rows["security", "encryption"][0], "false")
        self.assertIsNone(rows["node", "name"][0])
        self.assertEqual(
            set(rows),
            {
                ("node", "name"),
                ("node", "mac"),
                ("link", "transport"),
                ("link", "interface"),
                ("link", "group"),
                ("link", "port"),
                ("link", "io"),
                ("tap", "name"),
                ("tap", "address"),
                ("tap", "mtu"),
                ("tap", "mac"),
                ("routing", "strategy"),
                ("routing", "hello_history"),
                ("routing", "cached_candidates"),
                ("routing", "hello_period_ms"),
                ("routing", "neighbour_timeout"),
                ("routing", "max_hops"),
                ("routing", "relay_scope"),
                ("routing", "gateway_switch_threshold"),
                ("security", "encryption"),
                ("security", "key_file"),
                ("security", "identity"),
                ("security", "trust"),
                ("security", "authenticate"),
                ("control", "listen"),
            },
        )


class DeclaredOnceTests(ConfigFileCase):
    """Defaults a lower layer owns come from that layer; each section is an
    attrs class whose fields carry the schema."""

    def test_lower_layers_own_their_defaults(self):
        from vanet.node.control import DEFAULT_LISTEN
        from vanet.tap.linux import DEFAULT_MTU, DEFAULT_NAME
        from vanet.transport.udp import DEFAULT_GROUP, DEFAULT_PORT

        config = load_node_config(self.write(MINIMAL), "rsu")
        self.assertEqual(
            (config.link.group, config.link.port), (DEFAULT_GROUP, DEFAULT_PORT)
        )
        self.assertEqual((config.tap.name, config.tap.mtu), (DEFAULT_NAME, DEFAULT_MTU))
        self.assertEqual(config.control.listen, DEFAULT_LISTEN)

    def test_schema_is_the_section_classes(self):
        import attrs

        from vanet.node.config import SECTIONS, NodeConfig

        self.assertEqual(
            list(SECTIONS), ["node", "link", "tap", "routing", "security", "control"]
        )
        for name, cls in SECTIONS.items():
            self.assertEqual(
                [f.name for f in attrs.fields(cls)], list(SCHEMA[name]), name
            )
            self.assertIs(attrs.fields_dict(NodeConfig)[name].type, cls)

    def test_gateway_switch_threshold(self):
        config = load_node_config(self.write(MINIMAL), "obu")
        self.assertEqual(config.routing.gateway_switch_threshold, 0.1)
        path = self.write(MINIMAL + "[routing]\ngateway_switch_threshold = 0.25\n")
        self.assertEqual(
            load_node_config(path, "obu").routing.gateway_switch_threshold, 0.25
        )
        for bad in ("-0.1", "lots", "nan", "inf"):
            message = self.error(
                MINIMAL + f"[routing]\ngateway_switch_threshold = {bad}\n", "obu"
            )
            self.assertNames(
                message,
                "rsu.ini",
                f"[routing] gateway_switch_threshold = '{bad}'",
                "expected a number >= 0",
            )

    def test_gateway_switch_threshold_reaches_the_obu_core(self):
        from twisted.internet.task import Clock

        from vanet.node.factory import NodeFactory

        config = node_config_from_mapping(
            {
                "node": {"name": "o1"},
                "link": {"transport": "memory"},
                "routing": {"gateway_switch_threshold": "0.4"},
            },
            "sim.yaml",
            "obu",
        )
        engine = NodeFactory(config).build_engine(config.node.mac, Clock())
        self.assertEqual(engine.routing.gateway_switch_threshold, 0.4)

    def test_tap_mac_is_stable_and_settable(self):
        from vanet.mac import is_group

        first = load_node_config(self.write(MINIMAL), "rsu")
        again = load_node_config(self.write(MINIMAL), "rsu")
        self.assertEqual(first.tap.mac, again.tap.mac)  # the same at every start
        self.assertFalse(is_group(first.tap.mac))
        self.assertTrue(first.tap.mac[0] & 0x02)  # locally administered
        other = load_node_config(self.write(MINIMAL.replace("rsu1", "rsu2")), "rsu")
        self.assertNotEqual(first.tap.mac, other.tap.mac)
        udp = load_node_config(self.write(MINIMAL + "transport = udp\n"), "rsu")
        self.assertNotEqual(udp.tap.mac, udp.node.mac)  # not the link address
        path = self.write(MINIMAL + "[tap]\nmac = 02:aa:bb:cc:dd:ee\n")
        self.assertEqual(
            load_node_config(path, "rsu").tap.mac, bytes.fromhex("02aabbccddee")
        )

    def test_tap_mac_must_be_unicast(self):
        for bad in ("01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff", "02:00:00", "zz"):
            message = self.error(MINIMAL + f"[tap]\nmac = {bad}\n")
            self.assertNames(
                message, "rsu.ini", f"[tap] mac = '{bad}'", "unicast MAC address"
            )


class ConfigErrorTests(ConfigFileCase):
    """One test per kind of error; each message names file, section, key."""

    def test_not_a_whole_number(self):
        message = self.error(MINIMAL + "[routing]\nhello_history = abc\n")
        self.assertEqual(
            message,
            f"{os.path.join(self.dir, 'rsu.ini')}: [routing] hello_history = 'abc': "
            "expected a whole number >= 1",
        )

    def test_number_below_minimum(self):
        message = self.error(MINIMAL + "[routing]\ncached_candidates = 0\n")
        self.assertNames(
            message, "rsu.ini", "[routing] cached_candidates = '0'", "whole number >= 1"
        )

    def test_port_out_of_range(self):
        for port in ("0", "65536", "-1"):
            message = self.error(MINIMAL + f"port = {port}\n")
            self.assertNames(
                message, "rsu.ini", f"[link] port = '{port}'", "from 1 to 65535"
            )

    def test_mtu_out_of_range(self):
        for mtu in ("575", "9001"):
            message = self.error(MINIMAL + f"[tap]\nmtu = {mtu}\n")
            self.assertNames(
                message, "rsu.ini", f"[tap] mtu = '{mtu}'", "from 576 to 9000"
            )

    def test_bad_cidr(self):
        for address in ("10.0.0.300/24", "10.0.0.1", "10.0.0.1/33", "fish/8"):
            message = self.error(MINIMAL + f"[tap]\naddress = {address}\n")
            self.assertNames(
                message, "rsu.ini", f"[tap] address = '{address}'", "10.0.0.1/24"
            )

    def test_bad_transport(self):
        message = self.error(MINIMAL + "transport = tcp\n")
        self.assertNames(
            message, "rsu.ini", "[link] transport = 'tcp'", "packet, udp, memory"
        )

    def test_bad_boolean(self):
        message = self.error(MINIMAL + "[security]\nencryption = maybe\nkey_file = k\n")
        self.assertNames(
            message,
            "rsu.ini",
            "[security] encryption = 'maybe'",
            "yes/no",
            "true/false",
            "1/0",
        )

    def test_bad_mac(self):
        message = self.error(
            MINIMAL.replace("name = rsu1", "name = rsu1\nmac = 02:00:00:00:01")
        )
        self.assertNames(
            message, "rsu.ini", "[node] mac = '02:00:00:00:01'", "6 hex octets"
        )

    def test_bad_multicast_group(self):
        message = self.error(MINIMAL + "transport = udp\ngroup = 10.0.0.1\n")
        self.assertNames(message, "rsu.ini", "[link] group = '10.0.0.1'", "multicast")

    def test_bad_interface_name(self):
        message = self.error(MINIMAL.replace("eth0", "a-very-long-interface-name"))
        self.assertNames(message, "rsu.ini", "[link] interface", "1 to 15 characters")

    def test_bad_endpoint(self):
        message = self.error(MINIMAL + "[control]\nlisten = bogus:7070\n")
        self.assertNames(
            message, "rsu.ini", "[control] listen = 'bogus:7070'", "endpoint", "none"
        )

    def test_missing_name(self):
        message = self.error("[link]\ninterface = eth0\n")
        self.assertNames(message, "rsu.ini", "[node] name is missing", "required")

    def test_empty_name(self):
        message = self.error(MINIMAL.replace("name = rsu1", "name ="))
        self.assertNames(message, "rsu.ini", "[node] name = ''", "non-empty")

    def test_missing_interface_for_packet_and_udp(self):
        for transport in ("packet", "udp"):
            message = self.error(f"[node]\nname = n\n[link]\ntransport = {transport}\n")
            self.assertNames(
                message,
                "rsu.ini",
                "[link] interface is missing",
                f"transport = {transport}",
            )

    def test_missing_key_file_with_encryption(self):
        message = self.error(MINIMAL + "[security]\nencryption = true\n")
        self.assertNames(
            message, "rsu.ini", "[security] key_file is missing", "encryption is on"
        )

    def test_unknown_section(self):
        message = self.error(MINIMAL + "[radio]\npower = 3\n")
        self.assertNames(
            message,
            "rsu.ini",
            "unknown section [radio]",
            "node, link, tap, routing, security, control",
        )

    def test_default_section_is_not_special(self):
        message = self.error("[DEFAULT]\nname = x\n" + MINIMAL)
        self.assertNames(message, "rsu.ini", "unknown section [DEFAULT]")

    def test_unknown_key(self):
        message = self.error(MINIMAL + "[routing]\nhello_period = 100\n")
        self.assertNames(
            message,
            "rsu.ini",
            "[routing] unknown key 'hello_period'",
            "hello_period_ms",
            "hello_history",
        )

    def test_missing_file(self):
        path = os.path.join(self.dir, "absent.ini")
        with self.assertRaises(ConfigError) as caught:
            load_node_config(path, "obu")
        self.assertNames(str(caught.exception), path, "cannot read")

    def test_key_set_twice(self):
        message = self.error(MINIMAL + "[tap]\nmtu = 1400\nmtu = 1500\n")
        self.assertNames(message, "rsu.ini", "[tap] mtu is set twice")

    def test_key_before_any_section(self):
        message = self.error("name = x\n" + MINIMAL)
        self.assertNames(message, "rsu.ini", "line 1", "[node]")

    def test_bad_override_names_the_command_line(self):
        message = self.error(MINIMAL, overrides={("tap", "mtu"): "huge"})
        self.assertNames(
            message, "command line", "[tap] mtu = 'huge'", "from 576 to 9000"
        )

    def test_unknown_override(self):
        message = self.error(MINIMAL, overrides={("tap", "colour"): "red"})
        self.assertNames(message, "command line", "[tap] unknown key 'colour'")

    def test_mapping_errors_name_the_source(self):
        with self.assertRaises(ConfigError) as caught:
            node_config_from_mapping(
                {
                    "node.name": "n1",
                    "link.transport": "memory",
                    "routing.hello_history": "x",
                },
                "sim.yaml",
                "obu",
            )
        self.assertNames(
            str(caught.exception),
            "sim.yaml",
            "[routing] hello_history = 'x'",
            "whole number",
        )
        with self.assertRaises(ConfigError) as caught:
            node_config_from_mapping({"node.name": "n1", "speed": 3}, "sim.yaml", "obu")
        self.assertNames(str(caught.exception), "sim.yaml", "'speed'")


class CommandLineTests(ConfigFileCase):
    def test_options_override_the_file(self):
        from twisted.python import usage

        class Options(usage.Options):
            optParameters = [["config", "c", None, "INI file"], *option_parameters()]

        options = Options()
        options.parseOptions(
            ["--config", "x.ini", "--routing-hello-history", "7", "--tap-mtu=1500"]
        )
        overrides = overrides_from_options(options)
        self.assertEqual(
            overrides, {("routing", "hello_history"): "7", ("tap", "mtu"): "1500"}
        )
        config = load_node_config(self.write(MINIMAL), "rsu", overrides)
        self.assertEqual((config.routing.hello_history, config.tap.mtu), (7, 1500))
        self.assertIn("hello-history", str(options))  # generated --help text
        self.assertIn("[default: 10]", str(options))


class LinkIoConfigTests(SynchronousTestCase):
    def test_io_defaults_to_auto_and_takes_the_three_modes(self):
        base = {"node": {"name": "n"}, "link": {"interface": "eth0"}}
        self.assertEqual(node_config_from_mapping(base, "x.ini", "obu").link.io, "auto")
        for io in ("auto", "ring", "socket"):
            mapping = {"node": {"name": "n"}, "link": {"interface": "eth0", "io": io}}
            config = node_config_from_mapping(mapping, "x.ini", "obu")
            self.assertEqual(config.link.io, io)

    def test_a_bad_io_is_one_line_naming_file_section_and_key(self):
        mapping = {"node": {"name": "n"}, "link": {"interface": "eth0", "io": "mmap"}}
        with self.assertRaises(ConfigError) as caught:
            node_config_from_mapping(mapping, "x.ini", "obu")
        message = str(caught.exception)
        self.assertEqual(
            message, "x.ini: [link] io = 'mmap': expected one of auto, ring, socket"
        )
