package replication

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"
)

// lockedBuffer is a bytes.Buffer for a logger written from raft's
// goroutines while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// jsonLines decodes a JSON log, keeping each line's raw text too.
func jsonLines(t *testing.T, s string) ([]map[string]any, []string) {
	t.Helper()
	var out []map[string]any
	var raw []string
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
		raw = append(raw, line)
	}
	return out, raw
}

func TestHCLogger(t *testing.T) {
	var buf lockedBuffer
	l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug - 4}))
	hl := newHCLogger(l.With("component", "raft"))

	type server struct{ ID, Address string }
	hl.Info("updating configuration", "servers", hclog.Fmt("%+v", []server{{"n1", "127.0.0.1:1"}}),
		"progress", hclog.Fmt("%0.2f%%", 12.345), "flags", hclog.Hex(255), "mode", hclog.Octal(8),
		"bits", hclog.Binary(5), "q", hclog.Quote(`a"b`), "err", errors.New("boom"), "index", uint64(7))
	hl.Named("transport").With("peer", "n2").With("peer", "n3", "term", 2).Warn("failed to contact", "extra")
	hl.Named("transport").Named("pool").Trace("trace line")
	hl.StandardLogger(nil).Printf("from the standard logger\n")

	lines, raw := jsonLines(t, buf.String())
	if len(lines) != 4 {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	drop := func(m map[string]any) map[string]any {
		delete(m, "time")
		return m
	}
	want := []map[string]any{
		{"level": "INFO", "msg": "updating configuration", "component": "raft",
			"servers": "[{ID:n1 Address:127.0.0.1:1}]", "progress": "12.35%", "flags": "0xff", "mode": "010",
			"bits": "0b101", "q": `"a\"b"`, "err": "boom", "index": float64(7)},
		{"level": "WARN", "msg": "failed to contact", "component": "raft", "module": "transport",
			"peer": "n3", "term": float64(2), extraValueKey: "extra"},
		{"level": "DEBUG-4", "msg": "trace line", "component": "raft", "module": "transport.pool"},
		{"level": "INFO", "msg": "from the standard logger", "component": "raft"},
	}
	for i := range want {
		if diff := cmp.Diff(want[i], drop(lines[i])); diff != "" {
			t.Errorf("line %d (-want +got):\n%s", i, diff)
		}
		// No key twice (a JSON decoder would keep only the last).
		for _, k := range []string{`"component"`, `"peer"`, `"module"`} {
			if n := strings.Count(raw[i], k+":"); n > 1 {
				t.Errorf("line %d has %s %d times: %s", i, k, n, raw[i])
			}
		}
	}
	if got := hl.Named("a").Named("b").Name(); got != "a.b" {
		t.Errorf("Name() = %q", got)
	}
	if hl.GetLevel() != hclog.Trace || !hl.IsTrace() {
		t.Errorf("level %v", hl.GetLevel())
	}
	if _, ok := newHCLogger(nil).(*hclogger); ok {
		t.Error("a nil logger should give hclog's null logger")
	}
}

// TestRaftLogLines: a real two-node group on loopback logs through the
// adapter with every hclog.Fmt argument formatted (no "%+v" left, Go
// values spelled out), and component once per line.
func TestRaftLogLines(t *testing.T) {
	var buf lockedBuffer
	l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	newCluster(t, 2, false, func(c *Config) { c.Logger = l.With("component", "raft") })

	lines, raw := jsonLines(t, buf.String())
	servers := 0
	for i, m := range lines {
		if strings.Contains(raw[i], "%!") || strings.Contains(raw[i], "%+v") || strings.Contains(raw[i], "%#v") {
			t.Errorf("an unformatted argument: %s", raw[i])
		}
		if n := strings.Count(raw[i], `"component":`); n != 1 {
			t.Errorf("component %d times: %s", n, raw[i])
		}
		if s, ok := m["servers"].(string); ok && s != "[]" {
			servers++
			if !strings.Contains(s, "Address:127.0.0.1:") {
				t.Errorf("servers=%q: not a formatted server list", s)
			}
		}
	}
	if servers == 0 {
		t.Errorf("no line names a server (the configuration changes); %d lines:\n%s", len(lines), buf.String())
	}
}
