package cluster

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDefaultConfigIsValid(t *testing.T) {
	c := DefaultConfig()
	c.NodeID = "node-1" // the host name may not be a valid id everywhere
	if err := c.Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
	if err := testConfig("n1").Validate(); err != nil {
		t.Fatalf("testConfig().Validate() = %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	valid := func() Config {
		c := DefaultConfig()
		c.NodeID = "node-1"
		return c
	}
	tests := []struct {
		name   string
		edit   func(*Config)
		fields []string // the keys named, in order
	}{
		{"valid", func(*Config) {}, nil},
		{"valid with everything", func(c *Config) {
			c.AdvertiseAddr = "10.0.0.5:7946"
			c.SeedNodes = []string{"10.0.0.1:7946", "seed.example.com", "[fd00::1]:7000"}
			c.EncryptionKey = testKey
			c.SecondaryKeys = []string{"AAAAAAAAAAAAAAAAAAAAAA=="}
		}, nil},
		{"empty node id", func(c *Config) { c.NodeID = "" }, []string{"node_id"}},
		{"node id with a slash", func(c *Config) { c.NodeID = "a/b" }, []string{"node_id"}},
		{"bind without port", func(c *Config) { c.BindAddr = "0.0.0.0" }, []string{"bind_addr"}},
		{"bind to a host name", func(c *Config) { c.BindAddr = "localhost:7946" }, []string{"bind_addr"}},
		{"bind port out of range", func(c *Config) { c.BindAddr = "0.0.0.0:70000" }, []string{"bind_addr"}},
		{"unspecified advertise", func(c *Config) { c.AdvertiseAddr = "0.0.0.0:7946" }, []string{"advertise_addr"}},
		{"bad advertise port", func(c *Config) { c.AdvertiseAddr = "10.0.0.1:x" }, []string{"advertise_addr"}},
		{"bad seed", func(c *Config) { c.SeedNodes = []string{"10.0.0.1:7946", ":7946"} }, []string{"seed_nodes[1]"}},
		{"zero gossip interval", func(c *Config) { c.GossipInterval = 0 }, []string{"gossip_interval_ms"}},
		{"probe timeout not below interval", func(c *Config) { c.ProbeTimeout = c.ProbeInterval }, []string{"probe_timeout_ms"}},
		{"suspicion not above probe timeout", func(c *Config) { c.SuspicionTimeout = c.ProbeTimeout }, []string{"suspicion_timeout_ms"}},
		{"dead not above suspicion", func(c *Config) { c.DeadTimeout = c.SuspicionTimeout }, []string{"dead_timeout_ms"}},
		{"zero push pull", func(c *Config) { c.PushPullInterval = 0 }, []string{"push_pull_interval_ms"}},
		{"negative rejoin", func(c *Config) { c.RejoinInterval = -time.Second }, []string{"rejoin_interval_ms"}},
		{"key not base64", func(c *Config) { c.EncryptionKey = "not base64!" }, []string{"encryption_key"}},
		{"key of 10 bytes", func(c *Config) { c.EncryptionKey = "AAAAAAAAAAAAAA==" }, []string{"encryption_key"}},
		{"secondary without primary", func(c *Config) { c.SecondaryKeys = []string{testKey} }, []string{"secondary_encryption_keys"}},
		{"bad secondary", func(c *Config) {
			c.EncryptionKey = testKey
			c.SecondaryKeys = []string{testKey, "short"}
		}, []string{"secondary_encryption_keys[1]"}},
		{"label too long", func(c *Config) { c.Label = strings.Repeat("x", 256) }, []string{"label"}},
		{"every problem at once", func(c *Config) {
			c.NodeID = ""
			c.BindAddr = "nope"
			c.ProbeInterval = 0
			c.ProbeTimeout = -1
			c.SuspicionTimeout = 0
			c.DeadTimeout = 0
		}, []string{"node_id", "bind_addr", "probe_interval_ms", "probe_timeout_ms", "suspicion_timeout_ms", "dead_timeout_ms"}},
		{"ordering chain", func(c *Config) {
			c.ProbeInterval = time.Second
			c.ProbeTimeout = 2 * time.Second
			c.SuspicionTimeout = time.Second
			c.DeadTimeout = time.Second
		}, []string{"probe_timeout_ms", "suspicion_timeout_ms", "dead_timeout_ms"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.edit(&c)
			err := c.Validate()
			var got []string
			for _, ce := range ConfigErrors(err) {
				got = append(got, ce.Field)
			}
			if diff := cmp.Diff(tt.fields, got); diff != "" {
				t.Errorf("fields named (-want +got):\n%s\nerror: %v", diff, err)
			}
			if (err != nil) != (len(tt.fields) > 0) || (err != nil && !errors.Is(err, ErrInvalidConfig)) {
				t.Errorf("Validate() = %v, want ErrInvalidConfig iff problems", err)
			}
			if err != nil && strings.Contains(err.Error(), testKey) {
				t.Errorf("the error shows the key: %v", err)
			}
		})
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	c := testConfig("")
	if _, err := New(c); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("New with an empty node id = %v, want ErrInvalidConfig", err)
	}
}

func TestTimings(t *testing.T) {
	c := DefaultConfig() // 1 s probes, 500 ms timeout, 4 s suspicion
	tests := []struct {
		members  int
		min, max time.Duration
	}{
		// 4 probe intervals: memberlist expects 2 confirmations, which a
		// 3-node cluster (one other observer) cannot give: no range.
		{3, 4 * time.Second, 4 * time.Second},
		{4, 4 * time.Second, 24 * time.Second},
		{10, 4 * time.Second, 24 * time.Second},
		{100, 8 * time.Second, 48 * time.Second}, // scaled by log10(100)
	}
	for _, tt := range tests {
		got := c.Timings(tt.members)
		if got.SuspicionTimeout != tt.min || got.SuspicionMaxTimeout != tt.max {
			t.Errorf("Timings(%d) suspicion = %v..%v, want %v..%v", tt.members,
				got.SuspicionTimeout, got.SuspicionMaxTimeout, tt.min, tt.max)
		}
		if got.ForgetAfter != c.DeadTimeout {
			t.Errorf("Timings(%d).ForgetAfter = %v", tt.members, got.ForgetAfter)
		}
	}
	// A suspicion timeout between probe intervals rounds up.
	c.SuspicionTimeout = 2500 * time.Millisecond
	if got := c.Timings(3).SuspicionTimeout; got != 3*time.Second {
		t.Errorf("2.5 s suspicion with 1 s probes = %v, want 3s", got)
	}
	tc := testConfig("x")
	tm := tc.Timings(4)
	if tm.SuspectAfter >= tm.SuspicionTimeout {
		t.Errorf("test timings: a silent member would be dead (%v) before this node suspects it (%v)", tm.SuspicionTimeout, tm.SuspectAfter)
	}
}

func TestResolveAdvertise(t *testing.T) {
	ifs := func(addrs ...string) func() ([]net.Addr, error) {
		return func() ([]net.Addr, error) {
			var out []net.Addr
			for _, a := range addrs {
				_, n, err := net.ParseCIDR(a)
				if err != nil {
					t.Fatal(err)
				}
				n.IP = net.ParseIP(strings.Split(a, "/")[0])
				out = append(out, n)
			}
			return out, nil
		}
	}
	tests := []struct {
		name     string
		adv      string
		bindIP   string
		bindPort int
		ifs      func() ([]net.Addr, error)
		want     string
	}{
		{"explicit", "10.1.2.3:9000", "0.0.0.0", 7946, ifs(), "10.1.2.3:9000"},
		{"explicit without port", "10.1.2.3", "0.0.0.0", 7946, ifs(), "10.1.2.3:7946"},
		{"specific bind", "", "192.168.1.4", 7946, ifs(), "192.168.1.4:7946"},
		{"private preferred", "", "0.0.0.0", 7946, ifs("127.0.0.1/8", "8.8.8.8/24", "10.0.0.7/8", "fd00::1/64"), "10.0.0.7:7946"},
		{"public v4 next", "", "0.0.0.0", 7946, ifs("127.0.0.1/8", "fd00::1/64", "8.8.8.8/24"), "8.8.8.8:7946"},
		{"private v6 next", "", "0.0.0.0", 7946, ifs("127.0.0.1/8", "fd00::1/64"), "[fd00::1]:7946"},
		{"loopback only", "", "0.0.0.0", 7946, ifs("127.0.0.1/8"), "127.0.0.1:7946"},
		{"nothing at all", "", "0.0.0.0", 0, ifs(), "127.0.0.1:0"},
		{"host name", "localhost:7000", "0.0.0.0", 7946, ifs(), "127.0.0.1:7000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ip, port, err := resolveAdvertise(context.Background(), tt.adv, tt.bindIP, tt.bindPort, tt.ifs)
			if err != nil {
				t.Fatal(err)
			}
			if got := net.JoinHostPort(ip.String(), strconv.Itoa(port)); got != tt.want {
				if tt.name == "host name" && ip.IsLoopback() && port == 7000 {
					return // localhost may resolve to ::1 first
				}
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestGenerateKey(t *testing.T) {
	a, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := GenerateKey()
	if a == b {
		t.Fatal("two generated keys are equal")
	}
	c := DefaultConfig()
	c.NodeID = "n"
	c.EncryptionKey = a
	if err := c.Validate(); err != nil {
		t.Fatalf("a generated key is invalid: %v", err)
	}
	fa, _ := KeyFingerprint(a)
	fb, _ := KeyFingerprint(b)
	if len(fa) != 16 || fa == fb || strings.Contains(a, fa) {
		t.Errorf("fingerprints %q, %q", fa, fb)
	}
	if _, err := KeyFingerprint("short"); err == nil {
		t.Error("KeyFingerprint accepted a bad key")
	}
}
