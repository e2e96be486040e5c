package main

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/badbatch/badbatch/config"
)

// TestPortTable: docs/security.md's table of every listening port has a
// row for each listening-address key of the configuration (the
// *.bind_addr keys), naming the server flag that sets it and its real
// default bind, and every configuration key the table names exists.
func TestPortTable(t *testing.T) {
	b, err := os.ReadFile("../../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "### Every listening port\n")
	if i < 0 {
		t.Fatal("docs/security.md has no section “Every listening port”")
	}
	var rows [][]string
table:
	for line := range strings.Lines(doc[i:]) {
		switch {
		case strings.HasPrefix(line, "| port |"), strings.HasPrefix(line, "|---"):
		case strings.HasPrefix(line, "| "):
			rows = append(rows, strings.Split(strings.Trim(strings.TrimSpace(line), "|"), " | "))
		case len(rows) > 0:
			break table
		}
	}
	known := config.EnvNames()
	isKey := func(k string) bool {
		return slices.ContainsFunc(known, func(env string) bool {
			return env == config.EnvName(k) || strings.HasPrefix(env, config.EnvName(k)+"_")
		})
	}
	def := config.Default()
	defaults := map[string]string{
		"server.bind_addr":                   def.Server.BindAddr,
		"cluster.bind_addr":                  def.Cluster.BindAddr,
		"cluster.replication.raft_bind_addr": def.Cluster.Replication.RaftBindAddr,
	}
	server := newServerCommand()
	keyFlag := regexp.MustCompile("^`([a-z_.]+)` \\(`--([a-z-]+)`\\)$")
	dotted := regexp.MustCompile("`([a-z_]+\\.[a-z_.]+)`")
	var documented []string
	for _, row := range rows {
		if len(row) != 5 {
			t.Errorf("a row of %d cells, want 5: %q", len(row), row)
			continue
		}
		m := keyFlag.FindStringSubmatch(strings.TrimSpace(row[1]))
		if m == nil {
			t.Errorf("the key cell %q is not `key` (`--flag`)", row[1])
			continue
		}
		key, flag := m[1], m[2]
		documented = append(documented, config.EnvName(key))
		if flagKeys[key] != "--"+flag || server.Flags().Lookup(flag) == nil {
			t.Errorf("%s: the table names --%s, the server sets it with %q", key, flag, flagKeys[key])
		}
		d, ok := defaults[key]
		switch {
		case !ok:
			t.Errorf("%s: this test does not know its default; add it", key)
		case d != "" && !strings.HasPrefix(row[2], "`"+d+"`"):
			t.Errorf("%s: the table says the default bind is %q, the configuration's is %q", key, row[2], d)
		case d == "" && (!strings.Contains(row[2], "advertised address") || !strings.Contains(row[2], strconv.Itoa(config.DefaultRaftPort))):
			t.Errorf("%s: empty by default (the advertised address, port %d), the table says %q", key, config.DefaultRaftPort, row[2])
		}
		for _, cell := range row[1:] {
			for _, k := range dotted.FindAllStringSubmatch(cell, -1) {
				if !isKey(k[1]) {
					t.Errorf("the row of %s names %s, which is no configuration key", key, k[1])
				}
			}
		}
	}
	var listening []string
	for _, env := range known {
		if strings.HasSuffix(env, "BIND_ADDR") {
			listening = append(listening, env)
		}
	}
	slices.Sort(documented)
	if !slices.Equal(documented, listening) {
		t.Errorf("the table documents the ports of %v; the configuration's listening addresses are %v", documented, listening)
	}
}
