package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// netlab puts processes in network namespaces of their own, joined by a
// bridge, so that a test can cut one off the network (a partition) with
// everything else running: its gossip, Raft and API traffic all stop, in
// both directions, as on a real network. It needs root and iproute2; the
// tests using it skip otherwise.
//
// Names carry the test process's id, so concurrent test runs do not
// collide; everything is removed when the test ends.
type netlab struct {
	t      *testing.T
	prefix string // e.g. bb12345
	subnet string // e.g. 10.231.45
	bridge string
	n      int
}

// newNetlab creates the bridge, or skips the test when namespaces cannot
// be made here.
func newNetlab(t *testing.T) *netlab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("network namespaces need iproute2 (ip)")
	}
	pid := os.Getpid()
	l := &netlab{t: t, prefix: fmt.Sprintf("bb%d", pid%100000), subnet: fmt.Sprintf("10.231.%d", pid%250)}
	l.bridge = l.prefix + "br"
	if err := l.ip("link", "add", l.bridge, "type", "bridge"); err != nil {
		t.Skipf("cannot create a bridge: %v", err)
	}
	t.Cleanup(func() { _ = l.ip("link", "del", l.bridge) })
	l.must("addr", "add", l.subnet+".254/24", "dev", l.bridge)
	l.must("link", "set", l.bridge, "up")
	return l
}

func (l *netlab) ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func (l *netlab) must(args ...string) {
	l.t.Helper()
	if err := l.ip(args...); err != nil {
		l.t.Fatal(err)
	}
}

// netns is one namespace of a netlab.
type netns struct {
	l    *netlab
	name string
	ip   string // its address on the bridge
	veth string // the host end of its link
}

// add creates a namespace with an address on the bridge.
func (l *netlab) add() *netns {
	l.t.Helper()
	l.n++
	ns := &netns{l: l, name: fmt.Sprintf("%s-%d", l.prefix, l.n), ip: fmt.Sprintf("%s.%d", l.subnet, l.n), veth: fmt.Sprintf("%sh%d", l.prefix, l.n)}
	inner := fmt.Sprintf("%sn%d", l.prefix, l.n)
	l.must("netns", "add", ns.name)
	l.t.Cleanup(func() { _ = l.ip("netns", "del", ns.name) })
	l.must("link", "add", ns.veth, "type", "veth", "peer", "name", inner)
	l.t.Cleanup(func() { _ = l.ip("link", "del", ns.veth) }) // both ends, whatever still holds the namespace
	l.must("link", "set", inner, "netns", ns.name)
	l.must("-n", ns.name, "addr", "add", ns.ip+"/24", "dev", inner)
	l.must("-n", ns.name, "link", "set", inner, "up")
	l.must("-n", ns.name, "link", "set", "lo", "up")
	l.must("link", "set", ns.veth, "master", l.bridge)
	l.must("link", "set", ns.veth, "up")
	return ns
}

// command returns a command that runs bin with args in the namespace
// (ip netns exec execs it, so the process is bin itself).
func (ns *netns) command(bin string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.name, bin}, args...)...)
}

// cut takes the namespace off the network; heal puts it back.
func (ns *netns) cut()  { ns.l.must("link", "set", ns.veth, "down") }
func (ns *netns) heal() { ns.l.must("link", "set", ns.veth, "up") }
