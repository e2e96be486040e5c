package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestCreateFromFile: disruptor create -f creates the disruptors a file
// specifies, reports each created, unchanged or conflicting on later
// runs, takes JSON and standard input, and refuses a file with an
// unknown, mis-cased or duplicate key, a value of the wrong type or a
// name given twice, naming the file and line, before creating anything.
func TestCreateFromFile(t *testing.T) {
	srv := sharedServer(t)
	run := cliRun{env: []string{envEndpoint + "=" + srv.url}}
	for _, name := range []string{"cli-apply-a", "cli-apply-b", "cli-apply-c", "cli-apply-json", "cli-apply-never"} {
		t.Cleanup(func() { run.run(t, "disruptor", "delete", "--force", name) })
	}
	spec := `# two documents: a spec, and a list of specs
name: cli-apply-a
buffer_size: 256
producer_type: multi
wait_strategy: sleeping
---
- name: cli-apply-b
  overflow: reject
  schema:
    type: object
    required: [id]
- name: cli-apply-c
  start: false
  publish_timeout_ms: 250
  sync: always
  retention: {max_events: 1000}
`
	file := writeFile(t, "disruptors.yaml", spec)
	results := func(r cliResult) map[string]applyResult {
		t.Helper()
		var out struct{ Results []applyResult }
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatalf("create -f -o json: %v\n%v", err, r)
		}
		m := map[string]applyResult{}
		for _, res := range out.Results {
			m[res.Name] = res
		}
		return m
	}
	r := run.run(t, "disruptor", "create", "-f", file, "-o", "json")
	got := results(r)
	if r.code != 0 || len(got) != 3 || got["cli-apply-a"].Result != "created" || got["cli-apply-b"].Result != "created" ||
		got["cli-apply-c"].Result != "created" || got["cli-apply-a"].Spec != file+":2" || got["cli-apply-c"].Spec != file+":12" {
		t.Fatalf("first create -f: %v", r)
	}
	var d struct {
		State            string `json:"state"`
		WaitStrategy     string `json:"wait_strategy"`
		BufferSize       int    `json:"buffer_size"`
		PublishTimeoutMS int64  `json:"publish_timeout_ms"`
		Sync             string `json:"sync"`
		Retention        struct {
			MaxEvents int64 `json:"max_events"`
		} `json:"retention"`
	}
	bbJSON(t, &d, "disruptor", "show", "cli-apply-a")
	if d.BufferSize != 256 || d.WaitStrategy != "sleeping" || d.State != "running" {
		t.Errorf("cli-apply-a: %+v", d)
	}
	bbJSON(t, &d, "disruptor", "show", "cli-apply-c")
	if d.State != "created" || d.PublishTimeoutMS != 250 || d.Sync != "always" || d.Retention.MaxEvents != 1000 {
		t.Errorf("cli-apply-c: %+v", d)
	}

	// Again: unchanged, exit 0 (start is not compared: c stays created).
	r = run.run(t, "disruptor", "create", "-f", file)
	rows := checkTable(t, r.stdout, "NAME", "RESULT")
	if r.code != 0 || len(rows) != 3 || rows[0]["RESULT"] != "unchanged" || rows[1]["RESULT"] != "unchanged" || rows[2]["RESULT"] != "unchanged" {
		t.Errorf("second create -f: %v", r)
	}

	// Changed settings: a conflict naming them, exit 1; the rest unchanged.
	changed := writeFile(t, "changed.yaml", strings.NewReplacer("buffer_size: 256", "buffer_size: 512", "required: [id]", "required: [key]").Replace(spec))
	r = run.run(t, "disruptor", "create", "-f", changed, "-o", "json")
	got = results(r)
	if r.code != exitFailed || got["cli-apply-a"].Result != "conflict" || got["cli-apply-a"].Detail != "exists with other settings: buffer_size: 256, not 512" ||
		got["cli-apply-b"].Result != "conflict" || got["cli-apply-b"].Detail != "exists with other settings: schema: another document" ||
		got["cli-apply-c"].Result != "unchanged" || !strings.Contains(r.stderr, "2 of 3 disruptor specs were not applied") {
		t.Errorf("create -f with changed settings: %v", r)
	}

	// JSON, from standard input, with an error of the server's.
	r = cliRun{env: run.env, stdin: `[{"name":"cli-apply-json","buffer_size":64},{"name":"cli-apply-never","buffer_size":1000}]`}.run(t, "disruptor", "create", "-f", "-")
	rows = checkTable(t, r.stdout, "NAME", "RESULT", "DETAIL")
	if r.code != exitFailed || rows[0]["RESULT"] != "created" || rows[1]["RESULT"] != "error" ||
		!strings.HasPrefix(rows[1]["DETAIL"], "VALIDATION_FAILED: buffer_size: invalid value 1000") {
		t.Errorf("create -f - (JSON): %v", r)
	}

	// Bad files: exit 2, one line naming the file and line, nothing made.
	never := "name: cli-apply-never\n"
	for _, tc := range []struct{ content, msg string }{
		{never + "bufer_size: 8\n", `:2: unknown key "bufer_size" (did you mean "buffer_size"?)`},
		{never + "Buffer_Size: 8\n", `:2: unknown key "Buffer_Size" (did you mean "buffer_size"?)`},
		{never + "retention:\n  max_event: 8\n", `:3: unknown key "max_event" in retention (did you mean "max_events"?)`},
		{never + "buffer_size: 8\nbuffer_size: 16\n", `:3: mapping key "buffer_size" already defined at line 2`},
		{never + "buffer_size: lots\n", ":2: cannot unmarshal !!str `lots` into int"},
		{never + "---\nbuffer_size: 8\n", ":3: the spec has no name"},
		{never + "---\n" + never, `:3: disruptor "cli-apply-never" is specified twice (first at `},
		{"- 3\n", ":1: a disruptor spec is a mapping of settings"},
		{"# nothing\n", ": no disruptor specs"},
		{never + "name: [x\n", ""},
	} {
		f := writeFile(t, "bad.yaml", tc.content)
		r := run.run(t, "disruptor", "create", "-f", f)
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if r.code != exitUsage || len(lines) != 1 || !strings.Contains(lines[0], f) || !strings.Contains(lines[0], tc.msg) {
			t.Errorf("%q: want exit 2 and one line with %q, got %v", tc.content, tc.msg, r)
		}
	}
	if r := run.run(t, "disruptor", "show", "cli-apply-never"); r.code != exitFailed {
		t.Errorf("a bad file created a disruptor: %v", r)
	}
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"disruptor", "create", "x", "-f", file}, "-f takes no NAME"},
		{[]string{"disruptor", "create", "-f", file, "--size", "8"}, "-f and --size: give the settings in the file"},
		{[]string{"disruptor", "create", "-f", "/nonexistent.yaml"}, "-f: open /nonexistent.yaml"},
	} {
		if r := run.run(t, tc.args...); r.code != exitUsage || !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("%v: want exit 2 with %q, got %v", tc.args, tc.msg, r)
		}
	}
}
