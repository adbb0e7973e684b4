"""Network-namespace plumbing shared by the testbed, its scale scenario and
the Docker Swarm side by side: one host namespace plugged into the switch
namespace's bridge br0."""


def plug_into_switch(sh, switch_ns, ns, veth, peer, cidr):
    """A veth pair: `veth` becomes eth0 in `ns` with address `cidr` (e.g.
    10.214.0.11/24), `peer` a port of br0 in `switch_ns`; eth0 and lo up.
    `sh(*args)` runs one command and raises on failure."""
    sh("ip", "link", "add", veth, "type", "veth", "peer", "name", peer)
    sh("ip", "link", "set", veth, "netns", ns)
    sh("ip", "link", "set", peer, "netns", switch_ns)
    sh("ip", "-n", ns, "link", "set", veth, "name", "eth0")
    sh("ip", "-n", switch_ns, "link", "set", peer, "master", "br0", "up")
    sh("ip", "-n", ns, "addr", "add", cidr, "dev", "eth0")
    sh("ip", "-n", ns, "link", "set", "eth0", "up")
    sh("ip", "-n", ns, "link", "set", "lo", "up")
