package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/badbatch/badbatch/api"
)

// TestClusterRaftCommand: `badbatch cluster raft` prints the node's Raft
// status as a table, JSON or YAML, and fails with CLUSTER_DISABLED on a
// server that does not replicate.
func TestClusterRaftCommand(t *testing.T) {
	lc := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	st := api.RaftStatus{NodeID: "n1", RaftAddr: "127.0.0.1:7947", State: "follower", LeaderID: "n2", LeaderRaftAddr: "127.0.0.2:7947",
		Term: 3, CommitIndex: 1207, AppliedIndex: 1206, LastIndex: 1208, LastContact: &lc, Servers: []api.RaftServer{
			{ID: "n1", RaftAddr: "127.0.0.1:7947", Suffrage: "voter", Local: true},
			{ID: "n2", RaftAddr: "127.0.0.2:7947", Suffrage: "voter", Leader: true},
			{ID: "n3", RaftAddr: "127.0.0.3:7947", Suffrage: "nonvoter"}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/cluster/raft" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":{"code":"NOT_FOUND","message":"no route"}}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st)
	}))
	defer srv.Close()
	run := func(args ...string) cliResult {
		return cliRun{env: []string{envEndpoint + "=" + srv.URL}}.run(t, args...)
	}

	r := run("cluster", "raft")
	if r.code != 0 {
		t.Fatalf("cluster raft: %v", r)
	}
	for _, want := range []string{"n1 is follower at 127.0.0.1:7947, term 3, leader n2 (127.0.0.2:7947)",
		"commit index 1207, applied index 1206, last index 1208", "last contact with the leader"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.stdout)
		}
	}
	rows := checkTable(t, r.stdout[strings.Index(r.stdout, "SERVER"):], "SERVER", "RAFT ADDR", "SUFFRAGE", "ROLE")
	if len(rows) != 3 || rows[0]["SERVER"] != "n1 (this)" || rows[1]["ROLE"] != "leader" || rows[2]["SUFFRAGE"] != "nonvoter" {
		t.Errorf("servers: %v", rows)
	}

	r = run("cluster", "raft", "-o", "json")
	var got api.RaftStatus
	if err := json.Unmarshal([]byte(r.stdout), &got); r.code != 0 || err != nil || got.AppliedIndex != 1206 || len(got.Servers) != 3 {
		t.Errorf("json: %v %v %+v", r, err, got)
	}
	r = run("cluster", "raft", "-o", "yaml")
	if r.code != 0 || !strings.Contains(r.stdout, "applied_index: 1206") || !strings.Contains(r.stdout, "suffrage: nonvoter") {
		t.Errorf("yaml: %v", r)
	}

	// The shared server is not clustered.
	r = cliRun{env: []string{envEndpoint + "=" + sharedServer(t).url}}.run(t, "cluster", "raft")
	if r.code == 0 || !strings.Contains(r.stderr, "CLUSTER_DISABLED") && !strings.Contains(r.stderr, "not clustered") && !strings.Contains(r.stderr, "replicate") {
		t.Errorf("standalone server: %v", r)
	}
}
