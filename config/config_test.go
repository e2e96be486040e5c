package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// designExample is the configuration example of the design document,
// verbatim.
const designExample = `# Complete configuration example
server:
  bind_addr: "0.0.0.0:8080"
  cluster_mode: true

cluster:
  node_id: "node-1"
  bind_addr: "0.0.0.0:7946"
  seed_nodes: ["10.0.0.1:7946"]
  gossip_interval_ms: 200

disruptor:
  default_buffer_size: 1024
  default_wait_strategy: "blocking"

logging:
  level: "info"
  format: "json"
`

func TestDesignExampleLoads(t *testing.T) {
	c, err := Parse([]byte(designExample))
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.BindAddr != "0.0.0.0:8080" || !c.Server.ClusterMode || c.Cluster.NodeID != "node-1" ||
		len(c.Cluster.SeedNodes) != 1 || c.Cluster.SeedNodes[0] != "10.0.0.1:7946" ||
		c.Cluster.GossipIntervalMS != 200 || c.Disruptor.DefaultBufferSize != 1024 ||
		c.Disruptor.DefaultWaitStrategy != "blocking" || c.Logging.Format != "json" {
		t.Errorf("loaded %+v", c)
	}
	// Keys the file leaves out keep their defaults.
	if c.Limits.MaxBatchEvents != Default().Limits.MaxBatchEvents || c.Server.ShutdownTimeout != 30*time.Second {
		t.Errorf("defaults lost: %+v", c)
	}
}

func TestExampleIsCompleteAndValid(t *testing.T) {
	c, err := Parse([]byte(Example()))
	if err != nil {
		t.Fatalf("Example() does not load: %v", err)
	}
	if len(c.Disruptor.Disruptors) != 1 || c.Disruptor.Disruptors[0].Name != "orders" {
		t.Errorf("declared disruptors = %+v", c.Disruptor.Disruptors)
	}
	for key := range knownKeys() {
		last := key[strings.LastIndex(key, ".")+1:]
		if !strings.Contains(Example(), last+":") {
			t.Errorf("Example() does not show %s", key)
		}
	}
}

func TestEmptyFileIsDefaults(t *testing.T) {
	c, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	if !reflect.DeepEqual(c.Server, d.Server) || c.Limits != d.Limits || c.Logging != d.Logging {
		t.Errorf("empty file gave %+v, want defaults %+v", c, d)
	}
}

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(file, []byte("server:\n  bind_addr: 127.0.0.1:1000\nlogging:\n  level: debug\n  format: json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"BADBATCH_SERVER_BIND_ADDR=127.0.0.1:2000", "BADBATCH_LOGGING_LEVEL=warn",
		"BADBATCH_CLUSTER_SEED_NODES=a:1, b:2", "BADBATCH_LIMITS_MAX_BATCH_EVENTS=77", "UNRELATED=1"}
	flags := map[string]any{"server.bind_addr": "127.0.0.1:3000"}

	c, err := Load(Source{File: file, Env: env, Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.BindAddr != "127.0.0.1:3000" {
		t.Errorf("flag lost to %s", c.Server.BindAddr)
	}
	if c.Logging.Level != "warn" {
		t.Errorf("env lost to the file: level %s", c.Logging.Level)
	}
	if c.Logging.Format != "json" {
		t.Errorf("file lost to the defaults: format %s", c.Logging.Format)
	}
	if c.Limits.MaxBatchEvents != 77 || len(c.Cluster.SeedNodes) != 2 || c.Cluster.SeedNodes[1] != "b:2" {
		t.Errorf("env values not converted: %d %v", c.Limits.MaxBatchEvents, c.Cluster.SeedNodes)
	}
	c, err = Load(Source{File: file, Env: env})
	if err != nil || c.Server.BindAddr != "127.0.0.1:2000" {
		t.Errorf("env over file: %s, %v", c.Server.BindAddr, err)
	}
}

func TestInvalidReportsEveryKey(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		keys []string
	}{
		{"unknown key with hint", "server:\n  bind_adr: x\n", []string{"server.bind_adr"}},
		{"unknown section", "servr:\n  bind_addr: x\n", []string{"servr.bind_addr"}},
		{"unknown key in a declared disruptor", "disruptor:\n  disruptors:\n    - name: a\n      bufer_size: 8\n", []string{"disruptor.disruptors[0].bufer_size"}},
		{"wrong type", "disruptor:\n  default_buffer_size: lots\n", []string{"disruptor.default_buffer_size"}},
		{"bad duration", "server:\n  shutdown_timeout: soon\n", []string{"server.shutdown_timeout"}},
		{"many at once", `
server:
  bind_addr: "nowhere"
  cluster_mode: true
cluster:
  node_id: ""
  gossip_interval_ms: 10
  probe_interval_ms: 100
  probe_timeout_ms: 200
  suspicion_timeout_ms: 150
  dead_timeout_ms: 100
  seed_nodes: ["host:notaport"]
disruptor:
  default_buffer_size: 1000
  default_wait_strategy: "spin"
  default_producer_type: "some"
  overflow_policy: "drop"
logging:
  level: "loud"
  format: "xml"
`, []string{"server.bind_addr", "cluster.node_id", "cluster.seed_nodes[0]", "cluster.gossip_interval_ms",
			"cluster.probe_timeout_ms", "cluster.suspicion_timeout_ms", "cluster.dead_timeout_ms",
			"logging.level", "logging.format", "disruptor.overflow_policy"}},
		{"engine defaults", "disruptor:\n  default_buffer_size: 1000\n  default_wait_strategy: spin\n  default_producer_type: some\n",
			[]string{"disruptor.default_buffer_size", "disruptor.default_wait_strategy", "disruptor.default_producer_type"}},
		{"declared disruptors", "disruptor:\n  disruptors:\n    - name: a\n      buffer_size: 3\n    - name: a\n      wait_strategy: nope\n    - name: 'bad name!'\n",
			[]string{"disruptor.disruptors[0].buffer_size", "disruptor.disruptors[1].name", "disruptor.disruptors[1].wait_strategy", "disruptor.disruptors[2].name"}},
		{"limits", "limits:\n  max_batch_events: 0\n  max_body_bytes: -1\n", []string{"limits.max_batch_events", "limits.max_body_bytes"}},
		{"not yaml", "server: [unclosed\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatal("loaded")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			got := map[string]bool{}
			for _, ke := range KeyErrors(err) {
				got[ke.Key] = true
			}
			for _, k := range tt.keys {
				if !got[k] {
					t.Errorf("no error for %s in:\n%v", k, err)
				}
			}
			if len(got) != len(tt.keys) {
				t.Errorf("errors for %v, want exactly %v:\n%v", keys(got), tt.keys, err)
			}
		})
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestUnknownKeyHint(t *testing.T) {
	_, err := Parse([]byte("logging:\n  levle: info\n"))
	if err == nil || !strings.Contains(err.Error(), `did you mean "logging.level"`) {
		t.Fatalf("error = %v, want a hint", err)
	}
}

func TestRedacted(t *testing.T) {
	c := Default()
	c.Cluster.EncryptionKey = "c2VjcmV0c2VjcmV0c2VjcmV0"
	c.Cluster.SecondaryKeys = []string{"b2xkb2xkb2xkb2xkb2xkb2xk"}
	r := c.Redacted()
	if r.Cluster.EncryptionKey == c.Cluster.EncryptionKey || r.Cluster.SecondaryKeys[0] == c.Cluster.SecondaryKeys[0] {
		t.Error("a key survived redaction")
	}
	if c.Cluster.SecondaryKeys[0] == redacted {
		t.Error("Redacted changed its receiver's keys")
	}
}

func TestEnvNames(t *testing.T) {
	names := EnvNames()
	for _, want := range []string{"BADBATCH_SERVER_BIND_ADDR", "BADBATCH_CLUSTER_SEED_NODES", "BADBATCH_LOGGING_FORMAT"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Errorf("EnvNames lacks %s", want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(designExample))
	f.Add([]byte(Example()))
	f.Add([]byte("server: {bind_addr: 1}"))
	f.Add([]byte("disruptor:\n  disruptors: [1, {name: x}]\n"))
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err == nil {
			if verr := c.Validate(); verr != nil {
				t.Fatalf("Parse accepted a config that does not validate: %v", verr)
			}
		}
	})
}

// TestJournalKeys: the journal settings load, with their defaults, and
// every bad one is named.
func TestJournalKeys(t *testing.T) {
	c, err := Parse([]byte("server:\n  data_dir: /var/lib/badbatch\n  journal_repair: [orders]\ndisruptor:\n  disruptors:\n" +
		"    - name: orders\n      sync: always\n      retention: {max_age: 24h, max_events: 1000}\n    - name: scratch\n      durability: memory\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.JournalDir() != "/var/lib/badbatch/journal" || len(c.Server.JournalRepair) != 1 || c.Disruptor.DefaultDurability != "journal" ||
		c.Disruptor.DefaultSync != "interval" || c.Disruptor.Disruptors[0].Retention != (RetentionSpec{MaxAge: 24 * time.Hour, MaxEvents: 1000}) {
		t.Errorf("loaded %+v %+v", c.Server, c.Disruptor)
	}
	for _, tc := range []struct{ file, key string }{
		{"disruptor:\n  default_durability: disk\n", "disruptor.default_durability"},
		{"disruptor:\n  default_sync: sometimes\n", "disruptor.default_sync"},
		{"server:\n  data_dir: ''\n", "server.data_dir"},
		{"server:\n  journal_repair: ['../x']\n", "server.journal_repair[0]"},
		{"disruptor:\n  disruptors:\n    - name: a\n      durability: disk\n", "disruptor.disruptors[0].durability"},
		{"disruptor:\n  disruptors:\n    - name: a\n      sync: often\n", "disruptor.disruptors[0].sync"},
		{"disruptor:\n  disruptors:\n    - name: a\n      durability: memory\n      sync: always\n", "disruptor.disruptors[0].durability"},
		{"disruptor:\n  disruptors:\n    - name: a\n      durability: Memory\n      sync: always\n", "disruptor.disruptors[0].durability"},
		{"disruptor:\n  disruptors:\n    - name: a\n      retention: {max_evnts: 1}\n", "disruptor.disruptors[0].retention.max_evnts"},
		{"disruptor:\n  disruptors:\n    - name: a\n      retention: {max_events: -1}\n", "disruptor.disruptors[0].retention.max_events"},
	} {
		_, err := Parse([]byte(tc.file))
		found := false
		for _, ke := range KeyErrors(err) {
			found = found || ke.Key == tc.key
		}
		if !found {
			t.Errorf("%q: %v, want an error naming %s", tc.file, err, tc.key)
		}
	}
}
