package ui_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/badbatch/badbatch/internal/proctest"
)

var updateScreenshots = flag.Bool("update-screenshots", os.Getenv("BADBATCH_UPDATE_SCREENSHOTS") != "",
	"write a screenshot of each console page to docs/img (also BADBATCH_UPDATE_SCREENSHOTS=1)")

// chromium finds the browser: $BADBATCH_CHROMIUM, else Debian's chromium
// (apt-get install chromium), else a Chrome on PATH.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("BADBATCH_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium on PATH: .ci/run installs it (apt-get install -y chromium)")
	}
	t.Skip("no chromium on PATH (apt-get install -y chromium)")
	return ""
}

// console records what a tab's console says at level error: console
// errors, uncaught exceptions, failed loads and CSP violations.
type console struct {
	mu     sync.Mutex
	errors []string
}

// listen collects the messages of ctx's tab until ctx ends.
func (c *console) listen(ctx context.Context) {
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type != chromedp.ConsoleError && m.Type != chromedp.ConsoleException {
				continue
			}
			c.mu.Lock()
			c.errors = append(c.errors, fmt.Sprintf("%s (%s %s:%d)", m, m.Source, m.URL, m.Line+1))
			c.mu.Unlock()
		}
	}()
}

func (c *console) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.errors
	c.errors = nil
	return out
}

// noErrors fails the test for every console error since the last call.
func (c *console) noErrors(t *testing.T, page string) {
	t.Helper()
	for _, e := range c.take() {
		t.Errorf("%s: %s", page, e)
	}
}

const (
	adminKey  = "bb_console-test-admin-key-0000000000000000000"
	readerKey = "bb_console-test-reader-key-000000000000000000"
)

// TestConsole drives the console in headless Chromium against the real
// binary (a one-node replicated cluster with API keys): every page loads
// with no console error (CSP violations included), the list shows a
// disruptor created through the API, an event published through the API
// appears in the live tail within 1 s, a pause from the UI changes the
// state, and a reader's key sees no delete button. With
// -update-screenshots it writes a screenshot of each page to docs/img.
func TestConsole(t *testing.T) {
	browser := chromium(t)
	bin := proctest.Build(t)
	srv := proctest.Start(t, bin, proctest.Options{Replication: true, Keys: []proctest.Key{
		{Name: "console-admin", Key: adminKey, Role: "admin"},
		{Name: "console-reader", Key: readerKey, Role: "reader", Disruptors: []string{"*"}},
	}})

	// Disruptors made through the API, with some traffic.
	srv.MustDo(t, adminKey, "POST", "/api/v1/disruptors", map[string]any{"name": "orders", "replication": "quorum", "buffer_size": 4096}, nil, 201)
	srv.MustDo(t, adminKey, "POST", "/api/v1/disruptors", map[string]any{"name": "audit", "buffer_size": 1024}, nil, 201)
	for i := range 40 {
		srv.MustDo(t, adminKey, "POST", "/api/v1/disruptors/orders/events",
			map[string]any{"payload": map[string]any{"id": i, "item": "book"}, "metadata": map[string]string{"source": "shop"}}, nil, 200)
	}
	srv.MustDo(t, adminKey, "POST", "/api/v1/disruptors/audit/events", map[string]any{"payload": "login"}, nil, 200)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1360, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 3*time.Minute)
	defer cancel()
	var cons console
	do := func(ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v\nconsole: %v", what, err, cons.take())
		}
	}
	text := func(ctx context.Context, sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	count := func(ctx context.Context, sel string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
		if err != nil {
			t.Fatalf("count %s: %v", sel, err)
		}
		return n
	}
	location := func(ctx context.Context) string {
		t.Helper()
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		return loc
	}
	shot := func(name string, full bool) {
		t.Helper()
		if !*updateScreenshots {
			return
		}
		do(ctx, "settle before "+name, chromedp.Sleep(1500*time.Millisecond))
		capture := chromedp.CaptureScreenshot()
		if full {
			capture = chromedp.FullScreenshot(100)
		}
		png, err := chromedp.Run(ctx, capture)
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		out := filepath.Join(proctest.ModuleRoot(t), "docs", "img", name+".png")
		if err := os.WriteFile(out, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", out, len(png))
	}
	type css = chromedp.CSS

	// / redirects to the console, which asks for a key.
	do(ctx, "start the browser")
	cons.listen(ctx)
	do(ctx, "open /", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(css(`input[type=password]`)))
	if loc := location(ctx); !strings.HasPrefix(loc, srv.URL+"/ui/") {
		t.Errorf("/ went to %s, want the console under /ui/", loc)
	}
	cons.noErrors(t, "sign-in page")
	shot("console-sign-in", false)

	// A wrong key is refused, and says so.
	do(ctx, "a wrong key", chromedp.SendKeys(css(`input[type=password]`), "bb_not-a-key"),
		chromedp.Click(css(`button[data-action=sign-in]`)),
		chromedp.WaitVisible(css(`.login .error:not(.hidden)`)))
	if got := text(ctx, `.login .error`); !strings.Contains(got, "does not know this API key") {
		t.Errorf("refusal of a wrong key: %q", got)
	}

	// The admin signs in and sees both disruptors, with their figures.
	do(ctx, "sign in as admin", chromedp.SendKeys(css(`input[type=password]`), adminKey),
		chromedp.Click(css(`button[data-action=sign-in]`)),
		chromedp.WaitVisible(css(`table[data-table=disruptors] tr[data-disruptor=orders][data-state=running]`)),
		chromedp.WaitVisible(css(`table[data-table=disruptors] tr[data-disruptor=audit]`)))
	if role := text(ctx, `#who .role`); role != "admin" {
		t.Errorf("header role %q", role)
	}
	row := text(ctx, `tr[data-disruptor=orders]`)
	for _, want := range []string{"orders", "running", "quorum", "4,096", "0 – 39"} {
		if !strings.Contains(row, want) {
			t.Errorf("the orders row %q lacks %q", row, want)
		}
	}
	do(ctx, "admin sees delete", chromedp.WaitVisible(css(`button[data-action=delete][data-disruptor=orders]`)))
	// A disruptor created through the API while the page is open appears.
	srv.MustDo(t, adminKey, "POST", "/api/v1/disruptors", map[string]any{"name": "payments", "buffer_size": 2048}, nil, 201)
	do(ctx, "a new disruptor appears", chromedp.WaitVisible(css(`tr[data-disruptor=payments]`)))
	cons.noErrors(t, "disruptor list")
	shot("console-disruptors", true)

	// The disruptor page: the live tail shows an event published through
	// the API within a second.
	do(ctx, "open orders", chromedp.Click(css(`tr[data-disruptor=orders] a`)),
		chromedp.WaitVisible(css(`[data-panel=tail][data-live=true]`)))
	var pub struct {
		FirstSequence int64 `json:"first_sequence"`
	}
	sent := time.Now()
	srv.MustDo(t, adminKey, "POST", "/api/v1/disruptors/orders/events",
		map[string]any{"payload": map[string]any{"id": 40, "item": "live"}}, &pub, 200)
	sel := fmt.Sprintf(`table[data-table=tail] tr[data-seq="%d"]`, pub.FirstSequence)
	seen, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`new Promise((resolve) => {
		const sel = %q;
		if (document.querySelector(sel)) return resolve(true);
		const obs = new MutationObserver(() => { if (document.querySelector(sel)) { obs.disconnect(); resolve(true); } });
		obs.observe(document.body, { childList: true, subtree: true });
		setTimeout(() => { obs.disconnect(); resolve(!!document.querySelector(sel)); }, 5000);
	})`, sel), chromedp.EvalAwaitPromise))
	if took := time.Since(sent); err != nil || !seen || took > time.Second {
		t.Errorf("event %d in the live tail: seen %v (%v) after %v, publish included; want within 1s", pub.FirstSequence, seen, err, took)
	} else {
		t.Logf("event %d in the live tail %v after the publish began", pub.FirstSequence, took.Round(time.Millisecond))
	}
	if got := text(ctx, sel); !strings.Contains(got, `"item":"live"`) {
		t.Errorf("tail row %q", got)
	}

	// Replay by sequence.
	do(ctx, "replay from 10", chromedp.SendKeys(css(`[data-form=replay] input[name=from]`), "10"),
		chromedp.SetValue(css(`[data-form=replay] input[name=limit]`), "5"),
		chromedp.Click(css(`button[data-action=replay]`)),
		chromedp.WaitVisible(css(`table[data-table=replay] tr[data-seq="14"]`)))
	replayed, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll(`table[data-table=replay] tbody tr[data-seq]`)))
	if err != nil || len(replayed) != 5 || replayed[0].AttributeValue("data-seq") != "10" {
		t.Errorf("replay from 10, limit 5: %d rows (%v)", len(replayed), err)
	}
	if *updateScreenshots {
		// Traffic in waves, so that the screenshot's rate chart has a shape.
		for i := range 300 {
			srv.MustDo(t, adminKey, "POST", "/api/v1/disruptors/orders/events",
				map[string]any{"payload": map[string]any{"id": 41 + i, "item": "wave"}}, nil, 200)
			time.Sleep(time.Duration(5+25*(i/60%2)) * time.Millisecond)
		}
	}
	// The charts have drawn: a rate line and histogram bars.
	do(ctx, "charts", chromedp.WaitVisible(css(`svg.chart polyline.line`)), chromedp.WaitVisible(css(`svg.chart rect.bar`)))
	cons.noErrors(t, "disruptor page")
	shot("console-disruptor", true)

	// Pause from the UI: the server's state changes, and the page shows it.
	do(ctx, "pause", chromedp.Click(css(`h1 button[data-action=pause]`)),
		chromedp.WaitVisible(css(`h1 [data-state=paused]`)))
	var st struct {
		State string `json:"state"`
	}
	srv.MustDo(t, adminKey, "GET", "/api/v1/disruptors/orders/state", nil, &st, 200)
	if st.State != "paused" {
		t.Errorf("after the UI's pause the server says %q", st.State)
	}
	do(ctx, "resume", chromedp.Click(css(`h1 button[data-action=resume]`)),
		chromedp.WaitVisible(css(`h1 [data-state=running]`)))
	cons.noErrors(t, "pause and resume")

	// The cluster page: this node, its members and the Raft group.
	do(ctx, "cluster", chromedp.Navigate(srv.URL+"/ui/#/cluster"),
		chromedp.WaitVisible(css(`table[data-table=members] tr[data-member=n1]`)),
		chromedp.WaitVisible(css(`table[data-table=raft-servers] tr[data-server=n1]`)))
	raft := text(ctx, `[data-panel=raft]`)
	for _, want := range []string{"leader", "Term", "Commit index", "Applied index", "voter"} {
		if !strings.Contains(raft, want) {
			t.Errorf("the Raft panel %q lacks %q", raft, want)
		}
	}
	cons.noErrors(t, "cluster page")
	shot("console-cluster", true)

	// The OpenAPI document, rendered: /docs leads there.
	do(ctx, "api docs", chromedp.Navigate(srv.URL+"/docs"), chromedp.WaitVisible(css(`body[data-ready=true] .opblock`)))
	if loc := location(ctx); loc != srv.URL+"/ui/api.html" {
		t.Errorf("/docs went to %s", loc)
	}
	if n := count(ctx, `.opblock-summary-path`); n < 20 {
		t.Errorf("the rendered document shows %d operations", n)
	}
	cons.noErrors(t, "API reference")
	shot("console-api", false)

	// A reader, in a tab of its own (session storage is per tab), sees the
	// disruptors but no lifecycle button, here or on a disruptor's page.
	rctx, cancelReader := chromedp.NewContext(ctx)
	defer cancelReader()
	do(rctx, "open a tab")
	cons.listen(rctx)
	do(rctx, "sign in as reader", chromedp.Navigate(srv.URL+"/ui/"),
		chromedp.WaitVisible(css(`input[type=password]`)),
		chromedp.SendKeys(css(`input[type=password]`), readerKey),
		chromedp.Click(css(`button[data-action=sign-in]`)),
		chromedp.WaitVisible(css(`tr[data-disruptor=orders][data-state=running]`)))
	if n := count(rctx, `button[data-action=delete], button[data-action=pause], [data-form=create]`); n != 0 {
		t.Errorf("the reader sees %d delete/pause buttons or create forms on the list", n)
	}
	do(rctx, "reader opens orders", chromedp.Click(css(`tr[data-disruptor=orders] a`)),
		chromedp.WaitVisible(css(`[data-panel=tail][data-live=true]`)))
	if n := count(rctx, `button[data-action=delete], button[data-action=pause], [data-panel=publish]`); n != 0 {
		t.Errorf("the reader sees %d delete/pause buttons or a publish form on a disruptor's page", n)
	}
	if role := text(rctx, `#who .role`); role != "reader" {
		t.Errorf("reader's header role %q", role)
	}
	cons.noErrors(t, "reader")
}
