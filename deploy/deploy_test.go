package deploy_test

import (
	"bufio"
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/badbatch/badbatch/config"
	"github.com/badbatch/badbatch/internal/proctest"
	"github.com/badbatch/badbatch/internal/testpki"
)

// tool finds a program the checks need: CI installs it (.ci/run), so
// there its absence fails the test; elsewhere it skips.
func tool(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("no %s on PATH: .ci/run installs it (%s)", name, install)
	}
	t.Skipf("no %s on PATH (%s)", name, install)
	return ""
}

func run(t *testing.T, dir, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// ---- PromQL: which metrics an expression reads ----

var (
	quoted    = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	matchers  = regexp.MustCompile(`\{[^{}]*\}`)
	ranges    = regexp.MustCompile(`\[[^\]]*\]`)
	grouping  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	ident     = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	labelVals = regexp.MustCompile(`^\s*label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)`)
	keywords  = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
		"inf": true, "nan": true, "atan2": true}
)

// metricNames are the metrics a PromQL expression (or a Grafana
// label_values query) selects.
func metricNames(expr string) []string {
	if m := labelVals.FindStringSubmatch(expr); m != nil {
		return []string{m[1]}
	}
	e := quoted.ReplaceAllString(expr, `""`)
	e = matchers.ReplaceAllString(e, " ")
	e = ranges.ReplaceAllString(e, " ")
	e = grouping.ReplaceAllString(e, " ")
	var out []string
	for _, loc := range ident.FindAllStringIndex(e, -1) {
		name := e[loc[0]:loc[1]]
		if loc[0] > 0 && strings.ContainsAny(e[loc[0]-1:loc[0]], "0123456789.$") {
			continue // a number's exponent, a duration, a Grafana variable
		}
		if keywords[strings.ToLower(name)] || strings.HasPrefix(strings.TrimLeft(e[loc[1]:], " \t\n"), "(") {
			continue // an operator or a function
		}
		out = append(out, name)
	}
	return out
}

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string][]string{
		`sum by (disruptor) (rate(badbatch_events_published_total{instance=~"$instance"}[$__rate_interval]))`: {"badbatch_events_published_total"},
		`histogram_quantile(0.99, sum by (le) (rate(a_bucket[5m]))) > 1e-3`:                                   {"a_bucket"},
		`badbatch_raft_commit_index - on(instance) badbatch_raft_applied_index > 10000`:                       {"badbatch_raft_commit_index", "badbatch_raft_applied_index"},
		`x > 1000 and deriv(x[10m]) > 0`:                                            {"x", "x"},
		`label_values(badbatch_ring_buffer_size{instance=~"$instance"}, disruptor)`: {"badbatch_ring_buffer_size"},
		`up{job=~".*badbatch.*"} == 0`:                                              {"up"},
		`increase(m[$__range]) offset 5m`:                                           {"m"},
	} {
		if got := metricNames(expr); !slices.Equal(got, want) {
			t.Errorf("metricNames(%s) = %v, want %v", expr, got, want)
		}
	}
}

// grafanaQueries are the dashboard's queries: every panel target's expr
// (rows included) and every variable's query, by where they are.
func grafanaQueries(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("grafana/badbatch.json")
	if err != nil {
		t.Fatal(err)
	}
	type target struct {
		Expr       string `json:"expr"`
		RefID      string `json:"refId"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	}
	type panel struct {
		ID      int      `json:"id"`
		Title   string   `json:"title"`
		Type    string   `json:"type"`
		Targets []target `json:"targets"`
		Panels  []panel  `json:"panels"`
	}
	var dash struct {
		UID        string  `json:"uid"`
		Title      string  `json:"title"`
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("grafana/badbatch.json: %v", err)
	}
	if dash.UID == "" || dash.Title == "" {
		t.Errorf("the dashboard needs a uid and a title")
	}
	out := map[string]string{}
	ids := map[int]bool{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel id %d twice", p.ID)
			}
			ids[p.ID] = true
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("panel %q: target %s has no expr", p.Title, tg.RefID)
				}
				if tg.Datasource.UID != "${datasource}" {
					t.Errorf("panel %q: target %s's datasource is %q, not the ${datasource} variable", p.Title, tg.RefID, tg.Datasource.UID)
				}
				out[fmt.Sprintf("panel %q %s", p.Title, tg.RefID)] = tg.Expr
			}
		}
	}
	walk(dash.Panels)
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(string)
		if m, ok := v.Query.(map[string]any); ok {
			q, _ = m["query"].(string)
		}
		out["variable "+v.Name] = q
	}
	return out
}

// alertRules are alerts.yaml's expressions by alert name.
func alertRules(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, g := range doc.Groups {
		for _, r := range g.Rules {
			out["alert "+r.Alert] = r.Expr
		}
	}
	return out
}

// exposed is the set of sample names in a Prometheus exposition.
func exposed(text string) map[string]bool {
	out := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			out[line[:i]] = true
		}
	}
	return out
}

// TestMetricsExist: every metric the dashboard and the alert rules read is
// in /metrics of a running server with replication on (a one-node Raft
// group with a quorum disruptor and a local one, some traffic and an
// error), started on a data directory with a journal that does not
// recover (a corrupt record).
func TestMetricsExist(t *testing.T) {
	bin := proctest.Build(t)
	data := t.TempDir()
	first := proctest.Start(t, bin, proctest.Options{DataDir: data})
	first.MustDo(t, "", "POST", "/api/v1/disruptors", map[string]any{"name": "broken"}, nil, 201)
	for i := range 3 {
		first.MustDo(t, "", "POST", "/api/v1/disruptors/broken/events", map[string]any{"payload": i}, nil, 200)
	}
	first.Kill()
	// a byte in the body of the second of three records of equal size,
	// after the segment's 24-byte header
	seg := filepath.Join(data, "journal", "streams", "broken", "00000000000000000000.log")
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	rec := (len(b) - 24) / 3
	b[24+rec+rec/2] ^= 0xff
	if err := os.WriteFile(seg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := proctest.Start(t, bin, proctest.Options{Replication: true, DataDir: data})
	srv.MustDo(t, "", "POST", "/api/v1/disruptors", map[string]any{"name": "orders", "replication": "quorum"}, nil, 201)
	srv.MustDo(t, "", "POST", "/api/v1/disruptors", map[string]any{"name": "audit"}, nil, 201)
	for _, d := range []string{"orders", "audit"} {
		for i := range 5 {
			srv.MustDo(t, "", "POST", "/api/v1/disruptors/"+d+"/events", map[string]any{"payload": i}, nil, 200)
		}
	}
	srv.MustDo(t, "", "GET", "/api/v1/disruptors/missing", nil, nil, 404) // an API error by code
	have := exposed(srv.Text(t, "", "/metrics"))

	queries := grafanaQueries(t)
	if len(queries) < 30 {
		t.Errorf("the dashboard has %d queries", len(queries))
	}
	for where, expr := range alertRules(t) {
		queries[where] = expr
	}
	used := map[string]bool{}
	for where, expr := range queries {
		names := metricNames(expr)
		if len(names) == 0 {
			t.Errorf("%s reads no metric: %s", where, expr)
		}
		for _, n := range names {
			used[n] = true
			if n == "up" {
				continue // Prometheus's own
			}
			if !have[n] {
				t.Errorf("%s reads %s, which /metrics does not expose: %s", where, n, expr)
			}
		}
	}
	// What the issue asks the dashboard to show.
	for _, n := range []string{"badbatch_events_published_total", "badbatch_events_consumed_total", "badbatch_event_latency_seconds_bucket",
		"badbatch_ring_fill_ratio", "badbatch_consumer_lag", "badbatch_subscribers", "badbatch_http_requests_total", "badbatch_api_errors_total",
		"badbatch_cluster_members", "badbatch_cluster_healthy", "badbatch_raft_state", "badbatch_replication_commit_seconds_bucket",
		"badbatch_raft_leader_changes_total", "badbatch_publish_errors_total",
		"badbatch_journal_bytes", "badbatch_journal_events_total", "badbatch_journal_fsync_seconds_bucket",
		"badbatch_journal_write_errors_total", "badbatch_journal_down"} {
		if !used[n] {
			t.Errorf("neither the dashboard nor the alerts read %s", n)
		}
	}
	if used["badbatch_publish_rate"] {
		t.Error("the dashboard reads badbatch_publish_rate: use rate() over badbatch_events_published_total")
	}
}

// grafanaVars stand in for the dashboard's variables in promtool.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__range", "1h", "$__interval", "1m",
	"$instance", ".*", "$disruptor", ".*")

// TestDashboardQueriesParse: every dashboard query is valid PromQL, as
// promtool reads it in a recording rule.
func TestDashboardQueriesParse(t *testing.T) {
	promtool := tool(t, "promtool", "apt-get install prometheus")
	var rules []map[string]string
	i := 0
	for where, expr := range grafanaQueries(t) {
		if m := labelVals.FindStringSubmatch(expr); m != nil {
			expr = m[1]
		}
		i++
		rules = append(rules, map[string]string{"record": fmt.Sprintf("dashboard:q%d", i), "expr": grafanaVars.Replace(expr)})
		_ = where
	}
	b, err := json.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "dashboard-rules.yaml")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, ".", promtool, "check", "rules", f); err != nil {
		t.Errorf("promtool check rules on the dashboard's queries: %v\n%s", err, out)
	}
}

// TestAlertRules: promtool checks alerts.yaml and runs its unit tests.
func TestAlertRules(t *testing.T) {
	promtool := tool(t, "promtool", "apt-get install prometheus")
	out, err := run(t, "prometheus", promtool, "check", "rules", "alerts.yaml")
	if err != nil || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	t.Log(strings.TrimSpace(out))
	out, err = run(t, "prometheus", promtool, "test", "rules", "alerts_test.yaml")
	if err != nil || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	// Every alert has a unit test that expects it to fire.
	b, err := os.ReadFile("prometheus/alerts_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for where := range alertRules(t) {
		name := strings.TrimPrefix(where, "alert ")
		if !regexp.MustCompile(`alertname: ` + name + `\n\s+exp_alerts:\n\s+- exp_labels`).Match(b) {
			t.Errorf("alerts_test.yaml has no case in which %s fires", name)
		}
	}
}

// ---- Helm ----

// helmVersion is the helm v4 version deploy/tools/go.mod pins.
func helmVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("tools/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*helm\.sh/helm/v4 (v\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("tools/go.mod requires no helm.sh/helm/v4")
	}
	return string(m[1])
}

// helm returns the helm binary: $BADBATCH_HELM, else the one built from
// tools/ beside the Go build cache ($(go env GOCACHE)/../badbatch-tools),
// building it when it is not there (minutes, once) unless -short, where
// the test skips instead (CI builds it first: .ci/run).
func helm(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("BADBATCH_HELM"); p != "" {
		return p
	}
	gocache, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(strings.TrimSpace(string(gocache)), "..", "badbatch-tools", "helm-"+helmVersion(t))
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if testing.Short() && os.Getenv("CI") == "" {
		t.Skipf("helm is not built yet; build it once (minutes) with: go -C deploy/tools build -o %s helm.sh/helm/v4/cmd/helm", bin)
	}
	if out, err := run(t, "tools", "go", "build", "-o", bin, "helm.sh/helm/v4/cmd/helm"); err != nil {
		t.Fatalf("building helm: %v\n%s", err, out)
	}
	return bin
}

// required are the values the chart needs.
var required = []string{"--set", "apiKeys.existingSecret=bb-keys", "--set", "tls.existingSecret=bb-tls"}

// render runs helm template and decodes the manifests by kind and name.
func render(t *testing.T, helmBin string, args ...string) map[string]map[string]any {
	t.Helper()
	out, err := run(t, ".", helmBin, append([]string{"template", "bb", "helm/badbatch", "--namespace", "data"}, args...)...)
	if err != nil {
		t.Fatalf("helm template %v: %v\n%s", args, err, out)
	}
	docs := map[string]map[string]any{}
	dec := yaml.NewDecoder(strings.NewReader(out))
	for {
		var m map[string]any
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("helm template output: %v\n%s", err, out)
		}
		if m == nil {
			continue
		}
		md, _ := m["metadata"].(map[string]any)
		docs[fmt.Sprintf("%s/%s", m["kind"], md["name"])] = m
	}
	return docs
}

// get walks a decoded manifest: keys for maps, ints for lists.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// byName finds the element of a list whose name is name.
func byName(list any, name string) map[string]any {
	l, _ := list.([]any)
	for _, e := range l {
		if m, ok := e.(map[string]any); ok && m["name"] == name {
			return m
		}
	}
	return nil
}

func TestHelmChart(t *testing.T) {
	h := helm(t)
	if out, err := run(t, ".", h, append([]string{"lint", "--strict", "helm/badbatch"}, required...)...); err != nil || !strings.Contains(out, "0 chart(s) failed") {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
	// Without API keys or a TLS Secret the chart refuses to render.
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "apiKeys.existingSecret is required"},
		{[]string{"--set", "apiKeys.existingSecret=k"}, "tls.existingSecret is required"},
		{append([]string{"--set", "metrics.serviceMonitor.enabled=true"}, required...), "bearerTokenSecret is required"},
	} {
		out, err := run(t, ".", h, append([]string{"template", "bb", "helm/badbatch"}, c.args...)...)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("helm template %v: %v, want a refusal naming %q:\n%s", c.args, err, c.want, out)
		}
	}

	docs := render(t, h, required...)
	for _, k := range []string{"StatefulSet/bb-badbatch", "Service/bb-badbatch", "Service/bb-badbatch-headless",
		"PodDisruptionBudget/bb-badbatch", "ConfigMap/bb-badbatch", "ServiceAccount/bb-badbatch", "NetworkPolicy/bb-badbatch"} {
		if docs[k] == nil {
			t.Errorf("helm template renders no %s", k)
		}
	}
	sts := docs["StatefulSet/bb-badbatch"]
	if get(sts, "spec", "replicas") != 3 || get(sts, "spec", "serviceName") != "bb-badbatch-headless" {
		t.Errorf("StatefulSet: replicas %v, serviceName %v", get(sts, "spec", "replicas"), get(sts, "spec", "serviceName"))
	}
	if get(sts, "spec", "volumeClaimTemplates", 0, "metadata", "name") != "data" ||
		get(sts, "spec", "volumeClaimTemplates", 0, "spec", "resources", "requests", "storage") != "10Gi" {
		t.Errorf("StatefulSet: no per-pod data volume: %v", get(sts, "spec", "volumeClaimTemplates"))
	}
	pod := get(sts, "spec", "template", "spec")
	c := byName(get(pod, "containers"), "badbatch")
	if c == nil {
		t.Fatal("no badbatch container")
	}
	for probe, path := range map[string]string{"livenessProbe": "/health", "readinessProbe": "/health/ready"} {
		if get(c, probe, "httpGet", "path") != path || get(c, probe, "httpGet", "scheme") != "HTTPS" {
			t.Errorf("%s: %v", probe, c[probe])
		}
	}
	if get(c, "image") != "badbatch/badbatch:0.1.0" || get(c, "securityContext", "readOnlyRootFilesystem") != true ||
		get(pod, "securityContext", "runAsNonRoot") != true {
		t.Errorf("container: image %v, security %v / %v", c["image"], c["securityContext"], get(pod, "securityContext"))
	}
	keys := byName(c["env"], "BADBATCH_SECURITY_API_KEYS")
	if get(keys, "valueFrom", "secretKeyRef", "name") != "bb-keys" || get(keys, "valueFrom", "secretKeyRef", "key") != "api-keys" {
		t.Errorf("API keys not from the Secret: %v", keys)
	}
	if get(byName(get(pod, "volumes"), "tls"), "secret", "secretName") != "bb-tls" || byName(c["volumeMounts"], "tls") == nil {
		t.Errorf("TLS not from the Secret: %v", get(pod, "volumes"))
	}
	// Every BADBATCH_ variable is one the configuration reads.
	names := config.EnvNames()
	for _, e := range c["env"].([]any) {
		n, _ := e.(map[string]any)["name"].(string)
		if strings.HasPrefix(n, config.EnvPrefix) && !slices.Contains(names, n) {
			t.Errorf("env %s is not a configuration variable", n)
		}
	}
	hl := docs["Service/bb-badbatch-headless"]
	if get(hl, "spec", "clusterIP") != "None" || get(hl, "spec", "publishNotReadyAddresses") != true {
		t.Errorf("headless Service: %v", hl["spec"])
	}
	if p := byName(get(hl, "spec", "ports"), "gossip-udp"); get(p, "protocol") != "UDP" {
		t.Errorf("headless Service has no UDP gossip port: %v", get(hl, "spec", "ports"))
	}
	pdb := docs["PodDisruptionBudget/bb-badbatch"]
	if get(pdb, "spec", "maxUnavailable") != 1 ||
		fmt.Sprint(get(pdb, "spec", "selector", "matchLabels")) != fmt.Sprint(get(sts, "spec", "selector", "matchLabels")) {
		t.Errorf("PodDisruptionBudget: %v", pdb["spec"])
	}

	raftAddr := byName(c["env"], "BADBATCH_CLUSTER_REPLICATION_RAFT_ADVERTISE_ADDR")
	if get(raftAddr, "value") != "$(POD_NAME).bb-badbatch-headless.data.svc:7947" {
		t.Errorf("Raft advertises %v, want the pod's stable DNS name", raftAddr)
	}
	t.Run("config", func(t *testing.T) { checkRenderedConfig(t, docs, pod) })

	// Raft mutual TLS from its own Secret.
	rt := render(t, h, append([]string{"--set", "replication.tls.existingSecret=bb-raft-tls"}, required...)...)
	rpod := get(rt["StatefulSet/bb-badbatch"], "spec", "template", "spec")
	tmpl, _ := get(rt["ConfigMap/bb-badbatch"], "data", "badbatch.yaml.tmpl").(string)
	if get(byName(get(rpod, "volumes"), "raft-tls"), "secret", "secretName") != "bb-raft-tls" ||
		!strings.Contains(tmpl, "cert_file: /etc/badbatch/raft-tls/tls.crt") {
		t.Errorf("replication.tls: volumes %v, config:\n%s", get(rpod, "volumes"), tmpl)
	}

	// Without TLS: plain HTTP probes and no TLS volume.
	plain := render(t, h, "--set", "apiKeys.existingSecret=bb-keys", "--set", "tls.enabled=false")
	pc := byName(get(plain["StatefulSet/bb-badbatch"], "spec", "template", "spec", "containers"), "badbatch")
	if get(pc, "readinessProbe", "httpGet", "scheme") != "HTTP" || byName(pc["volumeMounts"], "tls") != nil {
		t.Errorf("tls.enabled=false: %v", pc)
	}
	mon := render(t, h, append([]string{"--set", "metrics.serviceMonitor.enabled=true",
		"--set", "metrics.serviceMonitor.bearerTokenSecret.name=bb-reader", "--set", "metrics.serviceMonitor.bearerTokenSecret.key=key"}, required...)...)
	if sm := mon["ServiceMonitor/bb-badbatch"]; get(sm, "spec", "endpoints", 0, "bearerTokenSecret", "name") != "bb-reader" ||
		get(sm, "spec", "selector", "matchLabels", "app.kubernetes.io/component") != "headless" {
		t.Errorf("ServiceMonitor: %v", sm)
	}
}

// checkRenderedConfig runs the init container's script on the ConfigMap,
// as pod 0 and pod 1, and has the binary validate what it writes (with
// the TLS files of a test CA in place of the Secret's).
func checkRenderedConfig(t *testing.T, docs map[string]map[string]any, pod any) {
	sh := tool(t, "sh", "a POSIX shell")
	tmpl, _ := get(docs["ConfigMap/bb-badbatch"], "data", "badbatch.yaml.tmpl").(string)
	init := byName(get(pod, "initContainers"), "config")
	script, _ := get(init, "command", 2).(string)
	if tmpl == "" || script == "" {
		t.Fatalf("no configuration template (%d bytes) or init script (%d bytes)", len(tmpl), len(script))
	}
	dir := t.TempDir()
	ca := testpki.New(t, "badbatch-test")
	srvCert := ca.Server(t, "bb-badbatch.data.svc")
	tmpl = strings.NewReplacer("/etc/badbatch/tls/tls.crt", srvCert.CertFile, "/etc/badbatch/tls/tls.key", srvCert.KeyFile,
		"/etc/badbatch/tls/ca.crt", ca.File).Replace(tmpl)
	if err := os.WriteFile(filepath.Join(dir, "badbatch.yaml.tmpl"), []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	script = strings.NewReplacer("/etc/badbatch/config/", dir+"/", "/run/badbatch/", dir+"/").Replace(script)
	bin := proctest.Build(t)
	for podName, want := range map[string]bool{"bb-badbatch-0": true, "bb-badbatch-1": false, "bb-badbatch-10": false} {
		cmd := exec.Command(sh, "-ec", script)
		cmd.Env = append(os.Environ(), "POD_NAME="+podName, "BOOTSTRAP=true")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("init script as %s: %v\n%s", podName, err, out)
		}
		rendered, err := os.ReadFile(filepath.Join(dir, "badbatch.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var cfg struct {
			Server struct {
				BindAddr    string `yaml:"bind_addr"`
				ClusterMode bool   `yaml:"cluster_mode"`
			} `yaml:"server"`
			Cluster struct {
				SeedNodes   []string `yaml:"seed_nodes"`
				Replication struct {
					Enabled   bool   `yaml:"enabled"`
					Bootstrap bool   `yaml:"bootstrap"`
					DataDir   string `yaml:"data_dir"`
				} `yaml:"replication"`
			} `yaml:"cluster"`
		}
		if err := yaml.Unmarshal(rendered, &cfg); err != nil {
			t.Fatalf("%s's configuration: %v\n%s", podName, err, rendered)
		}
		if cfg.Cluster.Replication.Bootstrap != want || !cfg.Cluster.Replication.Enabled || !cfg.Server.ClusterMode ||
			cfg.Cluster.Replication.DataDir != "/data/raft" || cfg.Server.BindAddr != "0.0.0.0:8080" {
			t.Errorf("%s: %+v", podName, cfg)
		}
		wantSeeds := []string{"bb-badbatch-0.bb-badbatch-headless.data.svc:7946", "bb-badbatch-1.bb-badbatch-headless.data.svc:7946",
			"bb-badbatch-2.bb-badbatch-headless.data.svc:7946"}
		if !slices.Equal(cfg.Cluster.SeedNodes, wantSeeds) {
			t.Errorf("seeds %v, want %v", cfg.Cluster.SeedNodes, wantSeeds)
		}
		// The server accepts it (API keys come from the Secret's variable).
		v := exec.Command(bin, "config", "validate", filepath.Join(dir, "badbatch.yaml"))
		v.Env = append(os.Environ(), `BADBATCH_SECURITY_API_KEYS=[{"name":"ops","hash":"sha256:`+strings.Repeat("ab", 32)+`","role":"admin"}]`)
		if out, err := v.CombinedOutput(); err != nil {
			t.Errorf("badbatch config validate on %s's configuration: %v\n%s\n%s", podName, err, out, rendered)
		}
	}
}

// ---- The Dockerfile ----

// TestDockerfile reads the Dockerfile (docker cannot run here): a static
// build on distroless/static as the non-root user; and, but under -short,
// runs its build command and checks the binary is static.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	froms := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(df, -1)
	if len(froms) < 2 || !strings.Contains(froms[len(froms)-1][1], "distroless/static") || !strings.HasSuffix(froms[len(froms)-1][1], ":nonroot") {
		t.Errorf("the final stage is %v, want distroless/static:nonroot", froms)
	}
	final := df[strings.LastIndex(df, "\nFROM "):]
	if !regexp.MustCompile(`(?m)^USER\s+(65532|nonroot)`).MatchString(final) {
		t.Error("the final stage does not run as the nonroot user")
	}
	if !regexp.MustCompile(`(?m)^ENTRYPOINT \["/usr/local/bin/badbatch"\]`).MatchString(final) {
		t.Error("the entry point is not the binary")
	}
	if !regexp.MustCompile(`EXPOSE 8080 7946/tcp 7946/udp 7947`).MatchString(final) {
		t.Error("the API, gossip and Raft ports are not exposed")
	}
	m := regexp.MustCompile(`(?s)CGO_ENABLED=0 (GOFLAGS=\S+) (go build .*?\./cmd/badbatch)\n`).FindStringSubmatch(df)
	if m == nil {
		t.Fatal("no CGO_ENABLED=0 go build of ./cmd/badbatch in the Dockerfile")
	}
	if testing.Short() {
		t.Skip("the image's build command compiles everything again (CGO off, trimpath): not under -short")
	}
	out := filepath.Join(t.TempDir(), "badbatch")
	build := strings.NewReplacer("\\\n", " ", "${VERSION}", "v0.0.0-docker-test", "/out/badbatch", out).Replace(m[2])
	cmd := exec.Command(tool(t, "sh", "a POSIX shell"), "-ec", build)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", m[1])
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", build, err, o)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the image's binary is dynamically linked (%v): it would not run on distroless/static", p.Type)
		}
	}
	bi, err := buildinfo.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("build settings %v", settings)
	}
	// -X set the version (build info omits -ldflags under -trimpath).
	if raw, err := os.ReadFile(out); err != nil || !bytes.Contains(raw, []byte("v0.0.0-docker-test")) {
		t.Errorf("the binary does not carry the VERSION build argument (%v)", err)
	}
	var buf bytes.Buffer
	ex := exec.Command(out, "config", "example")
	ex.Stdout = &buf
	if err := ex.Run(); err != nil || !strings.Contains(buf.String(), "security:") {
		t.Errorf("the image's binary: config example: %v", err)
	}
}
