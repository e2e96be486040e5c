package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/badbatch/badbatch/api"
	"github.com/badbatch/badbatch/client"
	"github.com/badbatch/badbatch/config"
)

// checkTable checks that out is an aligned table: a header of columns
// (upper case, apart by two spaces or more), and every cell of every row
// starting where its column's header does (counting runes, as a terminal
// shows them). want are columns the header must have. It returns the
// rows as maps from column to cell.
func checkTable(t *testing.T, out string, want ...string) []map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	header := []rune(lines[0])
	var names []string
	var starts []int
	for i := 0; i < len(header); {
		for i < len(header) && header[i] == ' ' {
			i++
		}
		if i == len(header) {
			break
		}
		start := i
		for i < len(header) && !(header[i] == ' ' && (i+1 == len(header) || header[i+1] == ' ')) {
			i++
		}
		names, starts = append(names, string(header[start:i])), append(starts, start)
	}
	for _, w := range want {
		if !slices.Contains(names, w) {
			t.Fatalf("the table has no column %s:\n%s", w, out)
		}
	}
	var rows []map[string]string
	for _, line := range lines[1:] {
		r := []rune(line)
		cells := map[string]string{}
		for i, s := range starts {
			if s >= len(r) || (s > 0 && r[s-1] != ' ') || r[s] == ' ' {
				t.Fatalf("column %s is not aligned in row %q:\n%s", names[i], line, out)
			}
			end := len(r)
			if i+1 < len(starts) {
				end = min(starts[i+1], len(r))
			}
			cells[names[i]] = strings.TrimSpace(string(r[s:end]))
		}
		rows = append(rows, cells)
	}
	return rows
}

// checkDetail checks a two-column table (a key and its value per line,
// every value starting in the same column) and returns it as a map.
func checkDetail(t *testing.T, out string) map[string]string {
	t.Helper()
	kv := map[string]string{}
	col := -1
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		i := strings.Index(line, "  ")
		j := i + len(line[i:]) - len(strings.TrimLeft(line[i:], " "))
		if i < 0 || (col >= 0 && j != col) {
			t.Fatalf("not an aligned two-column table:\n%s", out)
		}
		col = j
		kv[line[:i]] = line[j:]
	}
	return kv
}

// timeFormatRE is the one format of absolute times.
var timeFormatRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

// fits80 checks that every line of out fits 80 columns.
func fits80(t *testing.T, out string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if n := utf8.RuneCountInString(line); n > 80 {
			t.Errorf("a line of %d columns:\n%s", n, out)
		}
	}
}

func noEscapes(t *testing.T, what, s string) {
	t.Helper()
	if strings.ContainsAny(s, "\x1b\r") {
		t.Errorf("%s has escape codes or carriage returns: %q", what, s)
	}
}

// TestDisruptorCommands drives the whole disruptor lifecycle through the
// binary, in each output format.
func TestDisruptorCommands(t *testing.T) {
	// Created from the shared server's configuration file at start.
	var d api.Disruptor
	bbJSON(t, &d, "disruptor", "show", "declared")
	if d.State != "running" || d.BufferSize != 128 || d.ProducerType != "multi" || d.WaitStrategy != "yielding" {
		t.Errorf("declared disruptor: %+v", d)
	}

	out := bb(t, "disruptor", "create", "cli-life", "--size", "256", "--producer", "multi", "--wait-strategy", "sleeping",
		"--overflow", "reject", "--publish-timeout", "250ms", "--max-event-size", "4096", "--no-start")
	got := checkDetail(t, out)
	if got["NAME"] != "cli-life" || got["STATE"] != "created" || got["BUFFER SIZE"] != "256" || got["OVERFLOW"] != "reject" ||
		got["PUBLISH TIMEOUT"] != "250ms" || got["REPLAY WINDOW"] != "empty" ||
		!timeFormatRE.MatchString(strings.TrimSuffix(got["CREATED"], " (0s ago)")) && !timeFormatRE.MatchString(strings.TrimSuffix(got["CREATED"], " (1s ago)")) {
		t.Errorf("create table: %v", got)
	}

	schema := writeFile(t, "schema.json", `{"type":"object","required":["id"]}`)
	var ds map[string]any
	bbJSON(t, &ds, "disruptor", "create", "cli-schema", "--schema", schema)
	if ds["state"] != "running" || ds["schema"].(map[string]any)["type"] != "object" {
		t.Errorf("create with schema: %v", ds)
	}
	var yd map[string]any
	if err := yaml.Unmarshal([]byte(bb(t, "disruptor", "show", "cli-schema", "-o", "yaml")), &yd); err != nil ||
		yd["name"] != "cli-schema" || yd["schema"].(map[string]any)["type"] != "object" {
		t.Errorf("show as YAML: %v %v", yd, err)
	}

	// The narrow table fits 80 columns, with ages; wide adds settings
	// and the creation time; --no-headers drops the header.
	narrow := bb(t, "disruptor", "list", "--name", "cli-*")
	rows := checkTable(t, narrow, "NAME", "STATE", "SIZE", "PUBLISHED", "LATEST", "SUBSCRIBERS", "AGE")
	if len(rows) != 2 || rows[0]["NAME"] != "cli-life" || rows[0]["STATE"] != "created" || rows[0]["SIZE"] != "256" ||
		rows[0]["LATEST"] != "-" || !regexp.MustCompile(`^\d+s$`).MatchString(rows[0]["AGE"]) || rows[1]["NAME"] != "cli-schema" {
		t.Errorf("list: %v", rows)
	}
	fits80(t, narrow)
	rows = checkTable(t, bb(t, "disruptor", "list", "--name", "cli-*", "-o", "wide"), "NAME", "PRODUCER", "WAIT STRATEGY", "OVERFLOW", "REPLICATION", "CREATED", "AGE")
	if rows[0]["WAIT STRATEGY"] != "sleeping" || rows[0]["OVERFLOW"] != "reject" || rows[0]["REPLICATION"] != "none" ||
		!timeFormatRE.MatchString(rows[0]["CREATED"]) {
		t.Errorf("list -o wide: %v", rows)
	}
	if out := bb(t, "disruptor", "list", "--name", "cli-*", "--no-headers"); strings.Count(out, "\n") != 2 || !strings.HasPrefix(out, "cli-life ") ||
		!strings.Contains(out, "\ncli-schema ") {
		t.Errorf("list --no-headers:\n%s", out)
	}
	var list struct{ Disruptors []map[string]any }
	bbJSON(t, &list, "disruptor", "list", "--state", "created")
	if len(list.Disruptors) != 1 || list.Disruptors[0]["name"] != "cli-life" {
		t.Errorf("list --state created: %+v", list)
	}
	var yl struct{ Disruptors []map[string]any }
	if err := yaml.Unmarshal([]byte(bb(t, "disruptor", "list", "-o", "yaml")), &yl); err != nil || len(yl.Disruptors) < 3 {
		t.Errorf("list as YAML: %+v %v", yl, err)
	}

	for _, step := range []struct{ cmd, state string }{{"start", "running"}, {"pause", "paused"}, {"resume", "running"}, {"stop", "stopped"}} {
		if out := bb(t, "disruptor", step.cmd, "cli-life"); out != "cli-life is "+step.state+"\n" {
			t.Errorf("%s: %q", step.cmd, out)
		}
	}
	r := cliRun{env: []string{envEndpoint + "=" + sharedServer(t).url}}.run(t, "disruptor", "start", "cli-life")
	if r.code != exitFailed || !strings.Contains(r.stderr, "badbatch: INVALID_STATE_TRANSITION:") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("start a stopped disruptor: %v", r)
	}

	// Not on a terminal, delete does not ask.
	var del struct {
		Disruptor string
		Deleted   bool
	}
	bbJSON(t, &del, "disruptor", "delete", "cli-life")
	if !del.Deleted || del.Disruptor != "cli-life" {
		t.Errorf("delete: %+v", del)
	}
	if out := bb(t, "disruptor", "rm", "--force", "cli-schema"); out != "deleted cli-schema\n" {
		t.Errorf("delete --force: %q", out)
	}
	r = cliRun{env: []string{envEndpoint + "=" + sharedServer(t).url}}.run(t, "disruptor", "show", "cli-life")
	if r.code != exitFailed || r.stderr != "badbatch: DISRUPTOR_NOT_FOUND: disruptor not found: \"cli-life\"\n" {
		t.Errorf("show a deleted disruptor: %v", r)
	}
}

// TestEventCommands publishes every way and reads back every way.
func TestEventCommands(t *testing.T) {
	srv := sharedServer(t)
	createDisruptor(t, "cli-ev", "--size", "64")

	var pr api.PublishResult
	bbJSON(t, &pr, "event", "publish", "cli-ev", `{"id":1,"item":"book"}`, "--meta", "source=shop", "-m", "region=eu", "--idempotency-key", "order-1")
	if pr.FirstSequence != 0 || pr.Count != 1 || pr.Duplicate {
		t.Errorf("publish: %+v", pr)
	}
	rows := checkTable(t, bb(t, "event", "publish", "cli-ev", `{"id":1,"item":"book"}`, "--meta", "source=shop", "-m", "region=eu", "-k", "order-1"),
		"DISRUPTOR", "FIRST", "LAST", "COUNT", "DUPLICATE")
	if len(rows) != 1 || rows[0]["FIRST"] != "0" || rows[0]["DUPLICATE"] != "true" {
		t.Errorf("publish again with the key: %v", rows)
	}
	bbJSON(t, &pr, "event", "batch", "cli-ev", `[{"id":2},{"id":3},"three"]`)
	if pr.FirstSequence != 1 || pr.LastSequence != 3 || pr.Count != 3 {
		t.Errorf("batch: %+v", pr)
	}
	bbJSON(t, &pr, "event", "batch", "cli-ev", `[{"payload":{"id":4},"metadata":{"k":"v"}},{"payload_base64":"AAEC"}]`, "--envelope")
	if pr.FirstSequence != 4 || pr.Count != 2 {
		t.Errorf("batch --envelope: %+v", pr)
	}

	// publish-file: NDJSON from a file, a JSON array from stdin.
	var nd strings.Builder
	for i := range 25 {
		fmt.Fprintf(&nd, "{\"n\":%d}\n", i)
		if i == 10 {
			nd.WriteString("\n") // blank lines are fine
		}
	}
	file := writeFile(t, "events.ndjson", nd.String())
	var sum fileSummary
	bbJSON(t, &sum, "event", "publish-file", "cli-ev", file, "--batch-size", "10", "--meta", "from=file")
	if sum.Events != 25 || sum.Batches != 3 || sum.FirstSequence != 6 || sum.LastSequence != 30 {
		t.Errorf("publish-file NDJSON: %+v", sum)
	}
	env := []string{envEndpoint + "=" + srv.url}
	if sum.Bytes != int64(nd.Len()) {
		t.Errorf("publish-file read %d bytes of %d", sum.Bytes, nd.Len())
	}
	r := cliRun{env: env, stdin: `[{"a":1}, {"a":2}, {"a":3}]`}.run(t, "event", "publish-file", "cli-ev", "-", "-b", "2", "-o", "wide")
	rows = checkTable(t, r.stdout, "DISRUPTOR", "EVENTS", "MIB", "BATCHES", "FIRST", "LAST", "EVENTS/S", "MIB/S")
	if r.code != 0 || rows[0]["EVENTS"] != "3" || rows[0]["BATCHES"] != "2" || rows[0]["FIRST"] != "31" || rows[0]["LAST"] != "33" || rows[0]["MIB"] != "0.0" {
		t.Errorf("publish-file - (array): %v", r)
	}
	noEscapes(t, "publish-file without a terminal", r.stdout+r.stderr)

	// get, in every format.
	var ev client.Event
	bbJSON(t, &ev, "event", "get", "cli-ev", "0")
	if compactJSON(ev.Payload) != `{"id":1,"item":"book"}` || ev.Metadata["source"] != "shop" || ev.Metadata["region"] != "eu" {
		t.Errorf("get: %+v", ev)
	}
	rows = checkTable(t, bb(t, "event", "get", "cli-ev", "5"), "SEQUENCE", "TIME", "METADATA", "PAYLOAD")
	if rows[0]["SEQUENCE"] != "5" || !strings.Contains(rows[0]["PAYLOAD"], "AAEC") {
		t.Errorf("get a binary event: %v", rows)
	}
	var ye map[string]any
	if err := yaml.Unmarshal([]byte(bb(t, "event", "get", "cli-ev", "4", "-o", "yaml")), &ye); err != nil ||
		ye["payload"].(map[string]any)["id"] != 4 || ye["metadata"].(map[string]any)["k"] != "v" {
		t.Errorf("get as YAML: %v %v", ye, err)
	}

	// replay: pages, limits, every format.
	var page client.ReplayPage
	bbJSON(t, &page, "event", "replay", "cli-ev", "--from", "6", "--limit", "5")
	if len(page.Events) != 5 || page.Events[0].Sequence != 6 || page.NextSequence != 11 || page.Events[0].Metadata["from"] != "file" {
		t.Errorf("replay --from 6 --limit 5: %+v", page)
	}
	bbJSON(t, &page, "event", "replay", "cli-ev", "--limit", "1000")
	if len(page.Events) != 34 || page.LatestSequence != 33 {
		t.Errorf("replay everything: %d events, %+v", len(page.Events), page.LatestSequence)
	}
	rows = checkTable(t, bb(t, "event", "replay", "cli-ev", "--from", "31"), "SEQUENCE", "TIME", "METADATA", "PAYLOAD")
	if len(rows) != 3 || rows[2]["PAYLOAD"] != `{"a":3}` || rows[2]["SEQUENCE"] != "33" || !timeFormatRE.MatchString(rows[2]["TIME"]) {
		t.Errorf("replay table: %v", rows)
	}
	var yp struct{ Events []map[string]any }
	if err := yaml.Unmarshal([]byte(bb(t, "event", "replay", "cli-ev", "--from", "33", "-o", "yaml")), &yp); err != nil ||
		len(yp.Events) != 1 || yp.Events[0]["payload"].(map[string]any)["a"] != 3 {
		t.Errorf("replay as YAML: %+v %v", yp, err)
	}
	// --consistent is taken (and of a disruptor that is not replicated,
	// ignored) by every read; TestREADMECluster shows what it does.
	for _, args := range [][]string{{"event", "get", "cli-ev", "0"}, {"event", "replay", "cli-ev"}, {"disruptor", "show", "cli-ev"}} {
		bb(t, append(args, "--consistent")...)
	}
	// A long payload: the narrow table cuts it to 80 columns, wide does not.
	long := `{"text":"` + strings.Repeat("word ", 40) + `"}`
	bb(t, "event", "publish", "cli-ev", long, "-m", "source=a-rather-long-source-name")
	narrow := bb(t, "event", "replay", "cli-ev", "--from", "34")
	fits80(t, narrow)
	if rows := checkTable(t, narrow, "PAYLOAD"); !strings.HasSuffix(rows[0]["PAYLOAD"], "…") {
		t.Errorf("the narrow table does not cut the payload:\n%s", narrow)
	}
	if rows := checkTable(t, bb(t, "event", "replay", "cli-ev", "--from", "34", "-o", "wide"), "PAYLOAD", "METADATA"); rows[0]["PAYLOAD"] != long ||
		rows[0]["METADATA"] != "source=a-rather-long-source-name" {
		t.Errorf("the wide table: %v", rows)
	}

	// Server-side errors exit 1 with the envelope's code and message.
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"event", "get", "cli-ev", "999"}, "badbatch: SEQUENCE_NOT_FOUND: "},
		{[]string{"event", "publish", "nope", "1"}, "badbatch: DISRUPTOR_NOT_FOUND: "},
		{[]string{"event", "publish", "cli-ev", "1", "-k", "order-1"}, "badbatch: IDEMPOTENCY_KEY_REUSED: "},
		{[]string{"disruptor", "create", "bad-size", "--size", "1000"}, "badbatch: VALIDATION_FAILED: buffer_size: invalid value 1000: must be a power of 2"},
	} {
		r := cliRun{env: env}.run(t, tc.args...)
		if r.code != exitFailed || !strings.HasPrefix(r.stderr, tc.msg) {
			t.Errorf("%v: %v", tc.args, r)
		}
	}
	// A memory disruptor forgets what its ring overwrote; a journaled one
	// (the server's default) serves it from its journal.
	createDisruptor(t, "cli-small", "--size", "4", "--durability", "memory")
	createDisruptor(t, "cli-small-j", "--size", "4", "--sync", "always")
	for _, name := range []string{"cli-small", "cli-small-j"} {
		bb(t, "event", "batch", name, "[1,2,3,4]")
		bb(t, "event", "batch", name, "[5,6]")
	}
	r = cliRun{env: env}.run(t, "event", "replay", "cli-small", "--from", "0")
	if r.code != exitFailed || !strings.Contains(r.stderr, "SEQUENCE_EVICTED") || !strings.Contains(r.stderr, "2") {
		t.Errorf("replay evicted: %v", r)
	}
	r = cliRun{env: env}.run(t, "event", "replay", "cli-small-j", "--from", "0", "-o", "json")
	if r.code != 0 || strings.Count(r.stdout, `"sequence"`) != 6 {
		t.Errorf("replay of a journaled disruptor from 0: %v", r)
	}
}

// TestTail follows a disruptor in each output format until the
// disruptor stops, and until SIGINT.
func TestTail(t *testing.T) {
	srv := sharedServer(t)
	env := []string{envEndpoint + "=" + srv.url}
	createDisruptor(t, "cli-tail", "--size", "64")
	bb(t, "event", "batch", "cli-tail", `[{"n":0},{"n":1}]`, "-m", "k=v")
	bb(t, "disruptor", "stop", "cli-tail") // the streams end after the last event
	for _, format := range []string{"table", "json", "yaml"} {
		r := cliRun{env: env}.run(t, "event", "tail", "cli-tail", "--from", "0", "-o", format)
		if r.code != 0 || r.stderr != "badbatch: the stream ended: disruptor cli-tail was stopped (last sequence 1)\n" {
			t.Fatalf("tail -o %s: %v", format, r)
		}
		noEscapes(t, "tail", r.stdout)
		switch format {
		case "table":
			rows := checkTable(t, r.stdout, "SEQUENCE", "TIME", "METADATA", "PAYLOAD")
			if len(rows) != 2 || rows[0]["SEQUENCE"] != "0" || rows[1]["METADATA"] != "k=v" || rows[1]["PAYLOAD"] != `{"n":1}` ||
				!timeFormatRE.MatchString(rows[1]["TIME"]) {
				t.Errorf("tail table: %v\n%s", rows, r.stdout)
			}
		case "json":
			for i, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
				var ev client.Event
				if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Sequence != int64(i) {
					t.Errorf("tail NDJSON line %d: %q %v", i, line, err)
				}
			}
		case "yaml":
			d := yaml.NewDecoder(strings.NewReader(r.stdout))
			var n int
			for ; ; n++ {
				var ev map[string]any
				if d.Decode(&ev) != nil {
					break
				}
				if ev["sequence"] != n {
					t.Errorf("tail YAML document %d: %v", n, ev)
				}
			}
			if n != 2 {
				t.Errorf("tail YAML: %d documents in %q", n, r.stdout)
			}
		}
	}

	// Live: events published while tailing show up; Ctrl-C ends it with 0.
	createDisruptor(t, "cli-live")
	cmd := exec.Command(badbatchBin, "event", "tail", "cli-live", "-o", "json", "--ndjson")
	cmd.Env = append(baseEnv(), env...)
	stdout := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for n := 0; !strings.Contains(stdout.String(), `"live"`); n++ {
		if time.Now().After(deadline) {
			t.Fatalf("the live event never showed: %q", stdout)
		}
		if n%10 == 0 { // until the subscription is there
			bb(t, "event", "publish", "cli-live", `"live"`)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("tail after SIGINT: %v\n%s", err, stdout)
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatal("tail did not stop on SIGINT")
	}
}

// TestMonitorCommands shows metrics in each format, watches without a
// terminal and exports to files.
func TestMonitorCommands(t *testing.T) {
	srv := sharedServer(t)
	createDisruptor(t, "cli-mon", "--size", "64")
	bb(t, "event", "batch", "cli-mon", "[1,2,3]")

	out := bb(t, "monitor", "system")
	if !strings.HasPrefix(out, "uptime ") {
		t.Errorf("monitor system: %q", out)
	}
	_, table, _ := strings.Cut(out, "\n\n")
	fits80(t, table)
	rows := checkTable(t, table, "DISRUPTOR", "STATE", "PUBLISHED", "EVENTS/S", "P50", "P99", "FILL", "LAG", "ERRORS")
	found := false
	for _, r := range rows {
		if r["DISRUPTOR"] == "cli-mon" {
			found = r["PUBLISHED"] == "3" && r["STATE"] == "running"
		}
	}
	if !found {
		t.Errorf("monitor system rows: %v", rows)
	}
	_, table, _ = strings.Cut(bb(t, "monitor", "system", "-o", "wide"), "\n\n")
	checkTable(t, table, "DISRUPTOR", "P95", "MAX", "SUBSCRIBERS")
	var sm api.SystemMetrics
	bbJSON(t, &sm, "monitor", "system")
	if sm.Goroutines == 0 || len(sm.Disruptors) < 2 {
		t.Errorf("monitor system JSON: %+v", sm)
	}
	var m api.Metrics
	bbJSON(t, &m, "monitor", "disruptor", "cli-mon")
	if m.Published != 3 || m.Latency.Count == 0 || len(m.Consumers) == 0 {
		t.Errorf("monitor disruptor JSON: %+v", m)
	}
	if err := yaml.Unmarshal([]byte(bb(t, "monitor", "disruptor", "cli-mon", "-o", "yaml")), &m); err != nil || m.Disruptor != "cli-mon" {
		t.Errorf("monitor disruptor YAML: %+v %v", m, err)
	}
	out = bb(t, "monitor", "disruptor", "cli-mon")
	if !strings.Contains(out, "PUBLISHED    3") || !strings.Contains(out, "CONSUMER") {
		t.Errorf("monitor disruptor table: %q", out)
	}

	// watch without a terminal: frames one after the other, plain text.
	out = bb(t, "monitor", "watch", "--count", "3", "--interval", "100ms", "cli-mon")
	noEscapes(t, "monitor watch without a terminal", out)
	if n := strings.Count(out, "badbatch monitor  "+srv.url); n != 3 {
		t.Errorf("watch printed %d frames:\n%s", n, out)
	}
	if !strings.Contains(out, "cli-mon") || strings.Contains(out, "declared") {
		t.Errorf("watch NAME shows other disruptors, or not this one:\n%s", out)
	}

	// export: by extension, by --format, to stdout.
	dir := t.TempDir()
	bb(t, "monitor", "export", filepath.Join(dir, "m.json"))
	bb(t, "monitor", "export", filepath.Join(dir, "m.yml"))
	bb(t, "monitor", "export", filepath.Join(dir, "m.out"), "--format", "csv")
	var js api.SystemMetrics
	if b, _ := os.ReadFile(filepath.Join(dir, "m.json")); json.Unmarshal(b, &js) != nil || len(js.Disruptors) < 2 {
		t.Errorf("export JSON: %s", b)
	}
	var ys api.SystemMetrics
	if b, _ := os.ReadFile(filepath.Join(dir, "m.yml")); yaml.Unmarshal(b, &ys) != nil || len(ys.Disruptors) < 2 {
		t.Errorf("export YAML: %s", b)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "m.out"))
	recs, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	if err != nil || len(recs) < 3 || strings.Join(recs[0], ",") != strings.Join(csvHeader, ",") {
		t.Fatalf("export CSV: %v\n%s", err, b)
	}
	for _, rec := range recs[1:] {
		if rec[1] == "cli-mon" && (rec[3] != "3" || rec[13] != "64") {
			t.Errorf("CSV row %v", rec)
		}
	}
	if out := bb(t, "monitor", "export", "-", "-f", "csv"); !strings.HasPrefix(out, "time,disruptor,") {
		t.Errorf("export to stdout: %q", out)
	}
}

// TestConfigCommands: show (each format, redacted), validate, example.
func TestConfigCommands(t *testing.T) {
	secret := "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"
	file := writeFile(t, "c.yaml", "cluster:\n  encryption_key: \""+secret+"\"\nlogging:\n  format: json\n")
	r := cliRun{}.run(t, "config", "show", "--config", file)
	if r.code != 0 || strings.Contains(r.stdout, secret) {
		t.Fatalf("config show: %v", r)
	}
	kv := map[string]string{}
	for _, row := range checkTable(t, r.stdout, "KEY", "VALUE") {
		kv[row["KEY"]] = row["VALUE"]
	}
	if kv["logging.format"] != "json" || kv["cluster.encryption_key"] != "<redacted>" || kv["server.bind_addr"] != "127.0.0.1:8080" ||
		kv["disruptor.default_buffer_size"] != "1024" {
		t.Errorf("config show table: %v", kv)
	}
	for _, format := range []string{"json", "yaml"} {
		r := cliRun{}.run(t, "config", "show", "--config", file, "-o", format)
		if r.code != 0 || strings.Contains(r.stdout, secret) {
			t.Fatalf("config show -o %s: %v", format, r)
		}
		// The output is a configuration file that loads as it is.
		c, err := config.Parse([]byte(r.stdout))
		if err != nil || c.Logging.Format != "json" || c.Cluster.EncryptionKey != "<redacted>" {
			t.Errorf("config show -o %s does not load back: %v\n%s", format, err, r.stdout)
		}
	}

	// config example, both types, validates (through the binary).
	for _, typ := range []string{"server", "cluster"} {
		ex := cliRun{}.run(t, "config", "example", "--type", typ)
		if ex.code != 0 || !strings.Contains(ex.stdout, "# ") {
			t.Fatalf("config example --type %s: %v", typ, ex)
		}
		f := writeFile(t, typ+".yaml", ex.stdout)
		if v := (cliRun{}).run(t, "config", "validate", f); v.code != 0 || v.stdout != f+": valid\n" {
			t.Errorf("the %s example does not validate: %v", typ, v)
		}
		c, err := config.Parse([]byte(ex.stdout))
		if err != nil || c.Server.ClusterMode != (typ == "cluster") || c.Cluster.NodeID == "" {
			t.Errorf("the %s example: cluster_mode %v node_id %q, %v", typ, c.Server.ClusterMode, c.Cluster.NodeID, err)
		}
	}

	// The design document's example loads as written.
	design := writeFile(t, "design.yaml", designExample(t))
	if v := (cliRun{}).run(t, "config", "validate", design); v.code != 0 {
		t.Errorf("the design document's example does not validate: %v", v)
	}
	v := cliRun{}.run(t, "config", "show", "--config", design, "-o", "json")
	var shown map[string]map[string]any
	if err := json.Unmarshal([]byte(v.stdout), &shown); err != nil || shown["server"]["bind_addr"] != "0.0.0.0:8080" ||
		shown["cluster"]["node_id"] != "node-1" || shown["logging"]["format"] != "json" {
		t.Errorf("config show of the design example: %v %v", v, err)
	}

	// Bad files: every problem, one line each, naming the key; exit 2.
	bad := writeFile(t, "bad.yaml", `
server:
  bind_addr: "nowhere"
disruptor:
  default_buffer_size: 1000
  default_wait_strategy: "spin"
logging:
  level: "loud"
`)
	r = cliRun{}.run(t, "config", "validate", bad)
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if r.code != exitUsage || len(lines) != 4 {
		t.Fatalf("validate a bad file: %v", r)
	}
	for i, key := range []string{"server.bind_addr", "disruptor.default_buffer_size", "disruptor.default_wait_strategy", "logging.level"} {
		if !strings.Contains(r.stderr, "badbatch: "+bad+": "+key+": invalid value") {
			t.Errorf("line %d: no error for %s in:\n%s", i, key, r.stderr)
		}
	}
	typo := writeFile(t, "typo.yaml", "logging:\n  levle: info\n")
	r = cliRun{}.run(t, "config", "validate", typo)
	if r.code != exitUsage || r.stderr != "badbatch: "+typo+`: logging.levle: unknown key (did you mean "logging.level"?)`+"\n" {
		t.Errorf("validate a typo: %v", r)
	}
	r = cliRun{}.run(t, "server", "--config", bad, "--bind", "127.0.0.1:0")
	if r.code != exitUsage || !strings.Contains(r.stderr, "logging.level: invalid value loud") || strings.Contains(r.stderr, "serving") {
		t.Errorf("server with a bad file: %v", r)
	}
	notYAML := writeFile(t, "broken.yaml", "server: [unclosed\n")
	r = cliRun{}.run(t, "config", "validate", notYAML)
	if r.code != exitUsage || !strings.Contains(r.stderr, notYAML) {
		t.Errorf("validate broken YAML: %v", r)
	}
}

// designExample is the design document's configuration example. When the
// design document is beside the repository, its block must be this one.
func designExample(t *testing.T) string {
	t.Helper()
	const example = `# Complete configuration example
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
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "design", "badbatch-design.md"))
	if err != nil {
		t.Logf("the design document is not beside the repository (%v): using its example as copied", err)
		return example
	}
	_, rest, ok := strings.Cut(string(b), "**Hierarchical Configuration:**\n```yaml\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 || block != example {
		t.Errorf("the design document's example changed:\n%s", block)
	}
	return block
}

// TestPrecedence: flags over the environment over the file over the
// defaults, in `config show` and in a running server.
func TestPrecedence(t *testing.T) {
	file := writeFile(t, "p.yaml", `
server:
  bind_addr: "127.0.0.1:1"
logging:
  level: debug
  format: text
disruptor:
  default_buffer_size: 256
  disruptors:
    - name: from-file
`)
	env := []string{"BADBATCH_LOGGING_LEVEL=warn", "BADBATCH_DISRUPTOR_DEFAULT_BUFFER_SIZE=512"}
	show := func(args ...string) map[string]map[string]any {
		t.Helper()
		r := cliRun{env: env}.run(t, append([]string{"config", "show", "--config", file, "-o", "json"}, args...)...)
		var c map[string]map[string]any
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &c) != nil {
			t.Fatalf("config show: %v", r)
		}
		return c
	}
	c := show()
	if c["logging"]["level"] != "warn" || c["disruptor"]["default_buffer_size"] != 512.0 || c["logging"]["format"] != "text" ||
		c["server"]["bind_addr"] != "127.0.0.1:1" || c["server"]["shutdown_timeout"] != "30s" {
		t.Errorf("env over file over defaults: %v", c)
	}
	c = show("--log-level", "error", "--bind", "127.0.0.1:2")
	if c["logging"]["level"] != "error" || c["server"]["bind_addr"] != "127.0.0.1:2" || c["disruptor"]["default_buffer_size"] != 512.0 {
		t.Errorf("flags over env and file: %v", c)
	}
	r := cliRun{env: env}.run(t, "config", "show", "--config", file, "--log-level", "loud")
	if r.code != exitUsage || !strings.HasPrefix(r.stderr, "badbatch: --log-level: logging.level: invalid value loud") {
		t.Errorf("a bad flag value names the flag: %v", r)
	}
	r = cliRun{env: append(env, "BADBATCH_LOGGING_FORMAT=xml")}.run(t, "config", "show", "--config", file)
	if r.code != exitUsage || !strings.HasPrefix(r.stderr, "badbatch: $BADBATCH_LOGGING_FORMAT: logging.format: invalid value xml") {
		t.Errorf("a bad variable names it: %v", r)
	}

	// The running server: --bind beats the file's address, the
	// environment's buffer size beats the file's, the file's disruptor is
	// created.
	srv := startTestServer(t, env, "--config", file, "--bind", "127.0.0.1:0", "--log-format", "json", "--log-level", "info")
	if strings.HasSuffix(srv.url, ":1") {
		t.Errorf("the file's address won over --bind: %s", srv.url)
	}
	run := cliRun{env: []string{envEndpoint + "=" + srv.url}}
	var d api.Disruptor
	if r := run.run(t, "disruptor", "create", "defaults", "-o", "json"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &d) != nil || d.BufferSize != 512 {
		t.Errorf("the server's default buffer size: %v", r)
	}
	if r := run.run(t, "disruptor", "show", "from-file", "-o", "json"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &d) != nil || d.BufferSize != 512 || d.State != "running" {
		t.Errorf("the file's disruptor: %v", r)
	}

	// The client's endpoint: --endpoint over $BADBATCH_ENDPOINT over the
	// --config file's bind address.
	dead := "http://127.0.0.1:1"
	if r := (cliRun{env: []string{envEndpoint + "=" + dead}}).run(t, "disruptor", "show", "defaults", "--endpoint", srv.url); r.code != 0 {
		t.Errorf("--endpoint over the environment: %v", r)
	}
	if r := (cliRun{env: []string{envEndpoint + "=" + dead}}).run(t, "disruptor", "show", "defaults"); r.code != exitFailed ||
		r.stderr != "badbatch: cannot reach the server at "+dead+": connection refused (is `badbatch server` running there? see --endpoint)\n" {
		t.Errorf("an unreachable server: %v", r)
	}
	local := writeFile(t, "client.yaml", "server:\n  bind_addr: \"0.0.0.0:"+srv.url[strings.LastIndex(srv.url, ":")+1:]+"\"\n")
	if r := (cliRun{}).run(t, "disruptor", "show", "defaults", "--config", local); r.code != 0 {
		t.Errorf("the endpoint from --config: %v", r)
	}
}

// TestUsageErrors: bad flags, arguments and files exit 2 with one line
// naming what was wrong.
func TestUsageErrors(t *testing.T) {
	srv := sharedServer(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.yaml")
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"disruptor", "list", "--output", "xml"}, `--output "xml": want table, wide, json or yaml`},
		{[]string{"disruptor", "list", "--timeout", "-1s"}, "--timeout -1s: must not be negative"},
		{[]string{"disruptor", "show"}, "badbatch disruptor show needs a disruptor NAME"},
		{[]string{"disruptor", "create", "x", "--size", "lots"}, `invalid argument "lots" for "--size"`},
		{[]string{"disruptor", "create", "x", "--first-sequence", "-3"}, "--first-sequence -3: must not be negative"},
		{[]string{"disruptor", "create", "x", "--replication", "all"}, `--replication "all": want none or quorum`},
		{[]string{"bench", "--replication", "all"}, `--replication "all": want none or quorum`},
		{[]string{"bench", "--retries", "-1"}, "--retries -1: must be from 0 to 1000"},
		{[]string{"disruptor", "frobnicate"}, `unknown command "frobnicate" for "badbatch disruptor"; see badbatch disruptor --help`},
		{[]string{"frobnicate"}, `unknown command "frobnicate" for "badbatch"; see badbatch --help`},
		{[]string{"disruptor", "lsit"}, `unknown command "lsit" for "badbatch disruptor"; did you mean "list"?`},
		{[]string{"evnt", "get", "d", "1"}, `unknown command "evnt" for "badbatch"; did you mean "event"?`},
		{[]string{"event", "pub", "d", "1"}, `unknown command "pub" for "badbatch event"; did you mean "publish" or "publish-file"?`},
		{[]string{"cluster", "membres"}, `unknown command "membres" for "badbatch cluster"; did you mean "members"?`},
		{[]string{"monitor", "wacth"}, `unknown command "wacth" for "badbatch monitor"; did you mean "watch"?`},
		{[]string{"context", "lsit"}, `unknown command "lsit" for "badbatch context"; did you mean "list"?`},
		{[]string{"disruptor", "list", "--nope"}, "unknown flag: --nope"},
		{[]string{"event", "publish", "d", "{not json"}, "the JSON argument is not valid JSON"},
		{[]string{"event", "publish", "d", "1", "--meta", "novalue"}, `--meta "novalue": want key=value`},
		{[]string{"event", "batch", "d", "{}"}, "the JSON_ARRAY argument is not a JSON array"},
		{[]string{"event", "batch", "d", "[]"}, "the JSON_ARRAY argument is empty"},
		{[]string{"event", "publish-file", "d", missing}, "no such file or directory"},
		{[]string{"event", "publish-file", "d", "-", "--batch-size", "0"}, "--batch-size 0: must be at least 1"},
		{[]string{"event", "get", "d", "seven"}, `SEQ "seven": want a sequence number`},
		{[]string{"event", "replay", "d", "--limit", "0"}, "--limit 0: must be at least 1"},
		{[]string{"event", "tail", "d", "--from", "-3"}, "--from -3: want a sequence number"},
		{[]string{"monitor", "watch", "--interval", "1ms"}, "--interval 1ms: must be at least 100ms"},
		{[]string{"monitor", "export", "x.txt", "--format", "xml"}, `--format "xml": want json, yaml or csv`},
		{[]string{"config", "example", "--type", "laptop"}, `--type "laptop": want server or cluster`},
		{[]string{"config", "validate", missing}, "no such file or directory"},
		{[]string{"bench", "--concurrency", "0"}, "--concurrency 0: must be from 1 to 1024"},
		{[]string{"bench", "--encoding", "xml"}, `--encoding "xml": want json or msgpack`},
		{[]string{"bench", "--embedded", "--endpoint", srv.url}, "--embedded and --endpoint: give one or the other"},
		{[]string{"completion", "tcsh"}, `completion "tcsh": want bash, zsh or fish`},
		{[]string{"disruptor", "list", "--endpoint", "ftp://x"}, "--endpoint: \"ftp://x\": the scheme must be http or https"},
		{[]string{"disruptor", "list", "--ca-cert", missing}, "--ca-cert: stat " + missing},
		{[]string{"disruptor", "list", "--client-cert", missing}, "--client-cert: stat " + missing},
		{[]string{"disruptor", "list", "--ca-cert", writeFile(t, "notpem", "hello")}, "--ca-cert: "},
		{[]string{"disruptor", "list", "--client-cert", writeFile(t, "c.pem", "x")}, "--client-cert and --client-key go together"},
		{[]string{"server", "--config", missing}, "--config: stat " + missing},
		{[]string{"server", "--log-format", "xml"}, "--log-format: logging.format: invalid value xml: must be json or text"},
		{[]string{"server", "--bind", "nowhere"}, "--bind: server.bind_addr: invalid value nowhere: must be host:port"},
		{[]string{"disruptor", "list", "--config", missing}, missing},
	} {
		r := cliRun{env: []string{envEndpoint + "=" + srv.url}}.run(t, tc.args...)
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if r.code != exitUsage || len(lines) != 1 || !strings.HasPrefix(lines[0], "badbatch: ") || !strings.Contains(lines[0], tc.msg) {
			t.Errorf("%v: want exit 2 and one line with %q, got %v", tc.args, tc.msg, r)
		}
	}
}

// TestVersionAndCompletion runs version against the shared server and
// prints every completion script.
func TestVersionAndCompletion(t *testing.T) {
	var v struct {
		Client api.Version
		Server *api.Version
	}
	bbJSON(t, &v, "version")
	if v.Client.Version == "" || v.Server == nil || v.Server.APIVersion != "v1" {
		t.Errorf("version: %+v", v)
	}
	rows := checkTable(t, bb(t, "version"), "COMPONENT", "VERSION", "GO", "API")
	if len(rows) != 2 || rows[0]["COMPONENT"] != "client" || rows[1]["COMPONENT"] != "server" {
		t.Errorf("version table: %v", rows)
	}
	checkTable(t, bb(t, "version", "-o", "wide"), "COMPONENT", "VERSION", "COMMIT", "GO", "API")
	// No server: the client's version, the error, exit 1.
	r := cliRun{env: []string{envEndpoint + "=http://127.0.0.1:1"}}.run(t, "version")
	if r.code != exitFailed || !strings.Contains(r.stdout, "client") || strings.Contains(r.stdout, "server") ||
		!strings.Contains(r.stderr, "cannot reach the server at http://127.0.0.1:1") {
		t.Errorf("version without a server: %v", r)
	}
	if r := (cliRun{env: []string{envEndpoint + "=http://127.0.0.1:1"}}).run(t, "version", "--client"); r.code != 0 {
		t.Errorf("version --client without a server: %v", r)
	}
	if out := bb(t, "version", "--client", "-o", "yaml"); !strings.HasPrefix(out, "client:\n") {
		t.Errorf("version --client: %q", out)
	}
	for shell, marker := range map[string]string{"bash": "complete -o default -F __start_badbatch badbatch", "zsh": "#compdef badbatch", "fish": "complete -c badbatch"} {
		if out := bb(t, "completion", shell); !strings.Contains(out, marker) {
			t.Errorf("completion %s lacks %q", shell, marker)
		}
	}
	if out := bb(t, "completion", "--help"); !strings.Contains(out, "needs the bash-completion package") {
		t.Errorf("completion --help says nothing of bash-completion:\n%s", out)
	}
	// The values of enum flags complete.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"disruptor", "list", "-o", ""}, "table\nwide\njson\nyaml\n"},
		{[]string{"event", "tail", "x", "--output", "w"}, "table\nwide\njson\nyaml\n"}, // the shell filters by prefix
		{[]string{"disruptor", "list", "--state", ""}, "created\nrunning\npaused\nstopped\n"},
		{[]string{"disruptor", "create", "x", "--replication", ""}, "none\nquorum\n"},
		{[]string{"disruptor", "create", "x", "--wait-strategy", ""}, "busy_spin\nyielding\nsleeping\nblocking\nlite_blocking\ntimeout_blocking\nphased_backoff\n"},
		{[]string{"bench", "--encoding", ""}, "json\nmsgpack\n"},
		{[]string{"monitor", "export", "x", "--format", ""}, "json\nyaml\ncsv\n"},
		{[]string{"config", "example", "--type", ""}, "server\ncluster\n"},
		{[]string{"config", "show", "--log-format", ""}, "text\njson\n"},
		{[]string{"config", "show", "--log-level", ""}, "debug\ninfo\nwarn\nerror\n"},
		{[]string{"completion", ""}, "bash\nzsh\nfish\n"},
	} {
		if out := bb(t, append([]string{"__complete"}, tc.args...)...); !strings.HasPrefix(out, tc.want+":") {
			t.Errorf("completing %q: %q, want %q", tc.args, out, tc.want)
		}
	}
	// Disruptor names complete from the server.
	out := bb(t, "__complete", "disruptor", "show", "decl")
	if !strings.HasPrefix(out, "declared\n") {
		t.Errorf("completing a disruptor name: %q", out)
	}
}

// TestBench runs the load generator against the shared server and an
// embedded one.
func TestBench(t *testing.T) {
	var res benchResult
	bbJSON(t, &res, "bench", "--events", "3000", "--batch-size", "50", "--concurrency", "2", "--payload-size", "64", "--disruptor", "cli-bench")
	if res.Events != 3000 || res.Requests != 60 || res.Errors != 0 || res.EventsPerSec <= 0 || res.Latency.P50 <= 0 ||
		res.Latency.P99 < res.Latency.P50 || res.Latency.Max < res.Latency.P99 || res.PayloadBytes != 64 {
		t.Errorf("bench: %+v", res)
	}
	// The disruptor it created is gone.
	r := cliRun{env: []string{envEndpoint + "=" + sharedServer(t).url}}.run(t, "disruptor", "show", "cli-bench")
	if r.code != exitFailed {
		t.Errorf("bench left its disruptor: %v", r)
	}
	out := cliRun{}.run(t, "bench", "--embedded", "--duration", "500ms", "--encoding", "msgpack", "-c", "2", "-b", "10")
	if out.code != 0 || !strings.Contains(out.stdout, "EVENTS/S") || !strings.Contains(out.stdout, "PUBLISH LATENCY  p50 ") ||
		!strings.Contains(out.stdout, "msgpack") {
		t.Errorf("bench --embedded: %v", out)
	}
	noEscapes(t, "bench without a terminal", out.stdout+out.stderr)

	// --idempotent --acked -: every acknowledged batch as a JSON line on
	// stdout, each with its own key, then the result.
	r = cliRun{env: []string{envEndpoint + "=" + sharedServer(t).url}}.run(t, "bench", "--events", "2000", "--batch-size", "10",
		"--concurrency", "2", "--idempotent", "--acked", "-", "-o", "json", "--disruptor", "cli-bench-acked")
	if r.code != 0 {
		t.Fatalf("bench --acked -: %v", r)
	}
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	keys, firsts := map[string]bool{}, map[int64]bool{}
	for {
		var b ackedBatch
		if err := dec.Decode(&b); err != nil {
			t.Fatalf("after %d acknowledged batches: %v\n%s", len(keys), err, r.stdout)
		}
		if b.Key == "" { // the result
			break
		}
		if b.Count != 10 || keys[b.Key] || firsts[b.First] || b.First%10 != 0 {
			t.Errorf("acknowledged batch %+v (a key or first sequence seen before, or not a batch of 10)", b)
		}
		keys[b.Key], firsts[b.First] = true, true
	}
	if len(keys) != 200 || dec.More() {
		t.Errorf("%d acknowledged batches, want 200; more after the result: %v", len(keys), dec.More())
	}
}

// TestREADMEWalkthrough runs the README's first-five-minutes session
// against a fresh server: every badbatch line (in a scratch directory,
// with its redirection), the tail ended by stopping the disruptor, the
// bench shortened.
func TestREADMEWalkthrough(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "## The first five minutes")
	if !ok {
		t.Fatal("the README has no first-five-minutes section")
	}
	rest, _, _ = strings.Cut(rest, "\n## ")
	var cmds [][]string
	for _, line := range strings.Split(rest, "\n") {
		if strings.HasPrefix(line, "badbatch ") {
			line, _, _ = strings.Cut(line, " # ")
			cmds = append(cmds, shellWords(t, line))
		}
	}
	var seen []string
	for _, c := range cmds {
		seen = append(seen, strings.Join(c[1:min(3, len(c))], " "))
	}
	for _, want := range []string{"server", "disruptor create", "event publish", "event tail", "bench --duration"} {
		if !strings.Contains(strings.Join(seen, ","), want) {
			t.Fatalf("the walk-through lacks badbatch %s: %v", want, seen)
		}
	}
	srv := startTestServer(t, nil, "--bind", "127.0.0.1:0", "--log-format", "json")
	run := cliRun{env: []string{envEndpoint + "=" + srv.url}, dir: t.TempDir()}
	for _, c := range cmds {
		args, redirect := c[1:], ""
		if i := slices.Index(args, ">"); i >= 0 && i == len(args)-2 {
			args, redirect = args[:i], args[i+1]
		}
		switch {
		case args[0] == "server":
			continue // started above, on a free port
		case len(args) > 2 && args[0] == "event" && args[1] == "tail":
			if stop := run.run(t, "disruptor", "stop", args[2]); stop.code != 0 { // so that the tail ends
				t.Fatalf("stop: %v", stop)
			}
			r := run.run(t, args...)
			if r.code != 0 || strings.Count(r.stdout, "\n") != 4 || !strings.Contains(r.stdout, `{"id":1,"item":"book"}`) {
				t.Errorf("%v: %v", c, r)
			}
			continue
		case args[0] == "bench":
			args = append(args, "--duration", "300ms")
		}
		r := run.run(t, args...)
		if r.code != 0 {
			t.Errorf("%v: %v", c, r)
		}
		if redirect != "" {
			if err := os.WriteFile(filepath.Join(run.dir, redirect), []byte(r.stdout), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// shellWords splits a command line of the README: words, and single
// quoted strings.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	for line = strings.TrimSpace(line); line != ""; line = strings.TrimSpace(line) {
		if line[0] == '\'' {
			end := strings.IndexByte(line[1:], '\'')
			if end < 0 {
				t.Fatalf("unclosed quote in %q", line)
			}
			words = append(words, line[1:end+1])
			line = line[end+2:]
			continue
		}
		w, rest, _ := strings.Cut(line, " ")
		words = append(words, w)
		line = rest
	}
	return words
}
